package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.testkit.BundledModels;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@code serve}: the fused model behind an OpenAI-compatible API answers as {@code generate} does in process;
 * {@code bench-serve} measures it.
 */
class ServeCommandTest {
    private static final String KEY = "sk-serve-test-51c";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void servesTheFusionAsGenerateFusesIt() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        ServeCommand serve = new ServeCommand();
        StringWriter served = new StringWriter();
        AtomicInteger exit = new AtomicInteger(-1);
        Path fusionYaml = BundledModels.dir().resolve("fusion.yaml");
        Thread server = new Thread(() -> {
            picocli.CommandLine cli = new picocli.CommandLine(serve);
            cli.setOut(new PrintWriter(served, true));
            cli.setErr(new PrintWriter(served, true));
            exit.set(cli.execute("--config", fusionYaml.toString(), "--port", Integer.toString(port), "--api-key", KEY,
                    "--max-concurrent", "2", "--max-queue", "3", "--served-model-name", "math-fusion"));
        });
        server.start();
        URI base = URI.create("http://127.0.0.1:" + port);
        try {
            awaitHealthy(base, server);
            String prompt = "Question: Max has 18 shells and buys 7 packs of 5. He then gives away 5. How many shells"
                    + " does he have?\nAnswer:";
            HttpResponse<String> completion = post(base.resolve("/v1/completions"), "{\"model\": \"math-fusion\","
                    + " \"prompt\": " + JSON.writeValueAsString(prompt) + "}", KEY);
            assertEquals(200, completion.statusCode(), completion.body());
            String text = JSON.readTree(completion.body()).at("/choices/0/text").asText();
            Cli.Result local = Cli.run("generate", "--config", fusionYaml.toString(), "--prompt", prompt);
            assertEquals(0, local.exitCode(), local.err());
            assertTrue(local.out().startsWith(text + "\n"), "served " + text + ", in process " + local.out());
            assertTrue(text.contains("The answer is"), text);

            HttpResponse<String> models = HTTP.send(HttpRequest.newBuilder(base.resolve("/v1/models"))
                    .header("Authorization", "Bearer " + KEY).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode model = JSON.readTree(models.body()).at("/data/0");
            assertEquals("math-fusion", model.path("id").asText());
            assertEquals(3, model.at("/cool_fusion/sources").size());
            HttpResponse<String> keyless = post(base.resolve("/v1/chat/completions"), "{\"messages\": []}", null);
            assertEquals(401, keyless.statusCode(), keyless.body());
        } finally {
            serve.stop.countDown();
            server.join(60_000);
        }
        assertEquals(0, exit.get(), served.toString());
        String printed = served.toString();
        assertTrue(printed.contains("serving math-fusion (sources [A, B, C]) at " + base), printed);
        assertTrue(printed.contains("OpenAI-compatible API: " + base + "/v1"), printed);
        assertTrue(printed.contains("playground: " + base + "/"), printed);
        assertTrue(printed.contains("generations: 2 at once, 3 queued, 300 s per request; limits: body 8388608 bytes,"
                + " 8192 tokens per request"), printed);
        assertTrue(!printed.contains(KEY), "the key is not printed: " + printed);
        assertTrue(printed.contains("stopped"), printed);
    }

    @Test
    void badSettingsAreRefusedBeforeAnyModelLoads() {
        Cli.Result concurrent = Cli.run("serve", "--model", "does-not-exist", "--max-concurrent", "0");
        assertTrue(concurrent.exitCode() != 0 && concurrent.err().contains("at least 1 (--max-concurrent), got 0"),
                concurrent.err());
        Cli.Result timeout = Cli.run("serve", "--model", "does-not-exist", "--request-timeout", "0");
        assertTrue(timeout.exitCode() != 0 && timeout.err().contains("--request-timeout"), timeout.err());
        Cli.Result body = Cli.run("serve", "--model", "does-not-exist", "--max-body-bytes", "0");
        assertTrue(body.exitCode() != 0 && body.err().contains("maxBodyBytes must be in 1..2147483639 (--max-body-bytes)"),
                body.err());
        Cli.Result help = Cli.run("help", "serve");
        for (String option : new String[] {"--config", "--host", "--port", "--api-key", "--served-model-name",
                "--max-concurrent", "--max-queue", "--request-timeout", "--max-body-bytes", "--max-tokens-per-request"}) {
            assertTrue(help.out().contains(option), option + " missing from: " + help.out());
        }
        assertTrue(help.out().contains("OpenAI-compatible") && help.out().contains("cool-fusion worker"), help.out());
    }

    @Test
    void benchServeMeasuresEveryConcurrencyAndFindsTheAnswersIdentical() {
        Cli.Result r = Cli.run("bench-serve", "--config", BundledModels.dir().resolve("fusion.yaml").toString(), "--data",
                BundledModels.dir().resolve("heldout.jsonl").toString(), "--clients", "1,3", "--requests", "3",
                "--prompts", "2", "--max-concurrent", "2");
        assertEquals(0, r.exitCode(), r.err() + r.out());
        for (String clients : new String[] {"1", "3"}) {
            String row = r.out().lines().filter(l -> l.trim().startsWith(clients + " ")).findFirst().orElseThrow(() ->
                    new AssertionError("no row for " + clients + " clients: " + r.out()));
            assertTrue(row.trim().endsWith("3/3"), "identical to a lone client's: " + row);
            String[] cells = row.trim().split("\\s+");
            assertTrue(Double.parseDouble(cells[1]) > 0, "requests per second: " + row);
        }
        Cli.Result bad = Cli.run("bench-serve", "--requests", "0");
        assertTrue(bad.exitCode() != 0 && bad.err().contains("at least 1"), bad.err());
    }

    private static HttpResponse<String> post(URI uri, String body, String key) throws IOException, InterruptedException {
        HttpRequest.Builder r = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(2))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            r.header("Authorization", "Bearer " + key);
        }
        return HTTP.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void awaitHealthy(URI base, Thread server) throws InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (true) {
            try {
                HttpResponse<String> health = HTTP.send(HttpRequest.newBuilder(base.resolve("/health")).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (health.statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            if (!server.isAlive() || System.nanoTime() > deadline) {
                throw new AssertionError("the server did not come up at " + base);
            }
            Thread.sleep(200);
        }
    }
}
