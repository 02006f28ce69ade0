package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.BundledModels;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.remote.RemoteSourceModelProvider;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code worker} (the gRPC Table-1 worker) on the bundled models with an API key, and {@code generate} over the network
 * giving what it gives in process.
 */
class WorkerCommandTest {
    @Test
    void servedModelsFuseExactlyAsLocalOnes(@TempDir Path tmp) throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        WorkerCommand serve = new WorkerCommand();
        StringWriter served = new StringWriter();
        AtomicInteger exit = new AtomicInteger(-1);
        Path fusionYaml = BundledModels.dir().resolve("fusion.yaml");
        Thread server = new Thread(() -> {
            picocli.CommandLine cli = new picocli.CommandLine(serve);
            cli.setOut(new PrintWriter(served, true));
            cli.setErr(new PrintWriter(served, true));
            exit.set(cli.execute("--config", fusionYaml.toString(), "--port", Integer.toString(port), "--api-key", KEY,
                    "--state-ttl", "120", "--max-candidates", "64", "--max-live-states-per-client", "512"));
        });
        server.start();
        String url = "http://127.0.0.1:" + port;
        try {
            awaitServing(url, server);
            // The config the worker printed: remote sources plus the original metric and options (stop strings).
            String printed = served.toString();
            String marker = "a fusion config that uses them (for generate, eval or serve --config):\n";
            assertTrue(printed.contains(marker), printed);
            String clientYaml = printed.substring(printed.indexOf(marker) + marker.length());
            assertTrue(clientYaml.contains(WorkerCommand.KEY_PLACEHOLDER) && !clientYaml.contains(KEY), clientYaml);
            Path remoteYaml = Files.writeString(tmp.resolve("remote.yaml"),
                    clientYaml.replace(WorkerCommand.KEY_PLACEHOLDER, KEY));
            FusionConfig original = FusionConfigLoader.load(fusionYaml);
            FusionConfig client = FusionConfigLoader.load(remoteYaml);
            assertEquals(original.options(), client.options());
            assertEquals(original.metric(), client.metric());
            assertTrue(!original.options().stopStrings().isEmpty(), "the bundled config has stop strings");
            String prompt = "Question: Max has 18 shells and buys 7 packs of 5. He then gives away 5. How many shells does"
                    + " he have?\nAnswer:";
            Cli.Result local = Cli.run("generate", "--config", fusionYaml.toString(), "--prompt", prompt, "--trace");
            Cli.Result remote = Cli.run("generate", "--config", remoteYaml.toString(), "--prompt", prompt, "--trace");
            assertEquals(0, local.exitCode(), local.err());
            assertEquals(0, remote.exitCode(), remote.err());
            assertEquals(withoutTimings(local.out()), withoutTimings(remote.out()));
            assertTrue(remote.out().contains("The answer is"), remote.out());
            FusionException keyless = assertThrows(FusionException.class, () -> new RemoteSourceModelProvider()
                    .create(ProviderConfig.of("remote", Map.of("url", url, "model", "A"))));
            assertTrue(keyless.getMessage().contains("missing API key"), keyless.getMessage());
        } finally {
            serve.stop.countDown();
            server.join(60_000);
        }
        assertEquals(0, exit.get(), served.toString());
        assertTrue(served.toString().contains("worker serving [A, B, C] at " + url), served.toString());
        assertTrue(served.toString().contains("provider: remote"), served.toString());
        assertTrue(served.toString().contains("limits: body 8388608 bytes, 64 candidates, 4096 tokens per candidate,"
                + " 8192 tokens per request, 4096 live states, 512 per client"), served.toString());
        assertTrue(!served.toString().contains(KEY), "the key is not printed: " + served);
        assertTrue(served.toString().contains("stopped"), served.toString());
        FusionException gone = assertThrows(FusionException.class, () -> new RemoteSourceModelProvider()
                .create(ProviderConfig.of("remote", Map.of("url", url))));
        assertTrue(gone.getMessage().contains("cannot reach"), gone.getMessage());
    }

    @Test
    void aNegativeStateTtlIsRefusedBeforeAnyModelLoads() {
        Cli.Result r = Cli.run("worker", "--model", "does-not-exist", "--state-ttl", "-1");
        assertTrue(r.exitCode() != 0 && r.err().contains("--state-ttl must be 0"), r.err());
    }

    @Test
    void aLimitOutOfRangeIsRefusedBeforeAnyModelLoads() {
        Cli.Result r = Cli.run("worker", "--model", "does-not-exist", "--max-candidates", "0");
        assertTrue(r.exitCode() != 0 && r.err().contains("maxCandidates must be at least 1 (--max-candidates), got 0"),
                r.err());
        Cli.Result body = Cli.run("worker", "--model", "does-not-exist", "--max-body-bytes", "4294967296");
        assertTrue(body.exitCode() != 0 && body.err().contains("maxBodyBytes must be in 1..2147483639 (--max-body-bytes)"),
                body.err());
        Cli.Result help = Cli.run("help", "worker");
        for (String option : new String[] {"--max-body-bytes", "--max-candidates", "--max-tokens-per-candidate",
                "--max-tokens-per-request", "--max-live-states", "--max-live-states-per-client"}) {
            assertTrue(help.out().contains(option), option + " missing from: " + help.out());
        }
        assertTrue(help.out().contains("(default: 8388608, 8 MiB)"), help.out());
    }

    @Test
    void benchRemoteFusesInProcessAndThroughWorkersIdentically() {
        Cli.Result r = Cli.run("bench-remote", "--config", BundledModels.dir().resolve("fusion.yaml").toString(), "--data",
                BundledModels.dir().resolve("heldout.jsonl").toString(), "--items", "1");
        assertEquals(0, r.exitCode(), r.err() + r.out());
        double[] perStep = new double[3];
        String[] ways = {"in process", "workers, T1", "workers, per token"};
        for (int w = 0; w < ways.length; w++) {
            String way = ways[w];
            String row = r.out().lines().filter(l -> l.startsWith(way + " ")).findFirst().orElseThrow(() ->
                    new AssertionError(way + " missing: " + r.out()));
            String[] cells = row.trim().split("\\s+");
            double requestsPerStep = Double.parseDouble(cells[cells.length - 4]);
            perStep[w] = requestsPerStep;
            if (way.equals("in process")) {
                assertEquals(0, requestsPerStep, 0.0, "in process is the reference and makes no requests: " + row);
            } else {
                assertTrue(row.trim().endsWith("1/1"), "identical to in process: " + row);
                assertTrue(requestsPerStep > 0, "fused through workers: " + row);
            }
        }
        assertTrue(perStep[1] <= 3 * 3 + 1, "T1 on the workers: at most 3 calls per worker per step, and the opening: "
                + r.out());
        assertTrue(perStep[1] < perStep[2], "the per-token path makes more calls: " + r.out());
        Cli.Result bad = Cli.run("bench-remote", "--items", "0");
        assertTrue(bad.exitCode() != 0 && bad.err().contains("--items must be at least 1"), bad.err());
    }

    private static final String KEY = "test-key-7f3a";

    /** Step timings differ between runs; everything else must not. */
    private static String withoutTimings(String out) {
        return out.replaceAll("step (\\d+) \\([0-9.]+ ms\\)", "step $1");
    }

    private static void awaitServing(String url, Thread server) throws InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (true) {
            try (SourceModel probe = new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                    Map.of("url", url, "model", "A", "api-key", KEY)))) {
                return;
            } catch (FusionException notYet) {
                if (!server.isAlive() || System.nanoTime() > deadline) {
                    throw new AssertionError("the server did not come up at " + url, notYet);
                }
                Thread.sleep(200);
            }
        }
    }
}
