package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.DroppedSource;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.SourceFailurePolicy;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.remote.RemoteSourceModelProvider;
import dev.coolfusion.spi.ForwardingSourceModel;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.testkit.BundledModels;
import dev.coolfusion.testkit.Failures;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three worker JVMs ({@code cool-fusion worker --config models/fusion.yaml --source X}, one bundled model each) on loopback: the fusion through them equals
 * the in-process one token for token; a worker killed mid-generation ({@code kill -9}) or paused ({@code kill -STOP})
 * fails the fusion (policy {@code fail}) within the deadline, with an error that names it; with {@code drop}, a worker
 * killed mid-generation is left out and the answer completes from the other two.
 */
class WorkerJvmsTest {
    static final List<String> NAMES = List.of("A", "B", "C");
    static final String PROMPT = "Question: Jack has 35 stamps. He gives away 15 of them. How many stamps does he have"
            + " left?\nAnswer:";
    static final List<Process> workers = new ArrayList<>();
    static final List<String> urls = new ArrayList<>();

    @BeforeAll
    static void startWorkers(@TempDir Path tmp) throws Exception {
        Path fusionYaml = BundledModels.dir().resolve("fusion.yaml");
        for (int i = 0; i < NAMES.size(); i++) {
            int port = freePort();
            Process p = new ProcessBuilder(ChildJvms.jvmCommand(List.of("worker", "--config", fusionYaml.toString(),
                    "--source", NAMES.get(i), "--port", Integer.toString(port)))).redirectErrorStream(true)
                    .redirectOutput(tmp.resolve("worker-" + i + ".log").toFile()).start();
            workers.add(p);
            urls.add("http://127.0.0.1:" + port);
        }
        for (int i = 0; i < NAMES.size(); i++) {
            awaitServing(i, tmp.resolve("worker-" + i + ".log"));
        }
    }

    @AfterAll
    static void stopWorkers() {
        for (Process p : workers) {
            signal(p, "CONT");
            p.destroyForcibly();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    private static void awaitServing(int i, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (true) {
            try (SourceModel probe = remote(i, 5)) {
                return;
            } catch (FusionException notYet) {
                if (!workers.get(i).isAlive() || System.nanoTime() > deadline) {
                    throw new AssertionError("worker " + NAMES.get(i) + " did not come up: " + Files.readString(log),
                            notYet);
                }
                Thread.sleep(250);
            }
        }
    }

    static SourceModel remote(int i, int timeoutSeconds) {
        return new RemoteSourceModelProvider().create(ProviderConfig.of("remote", Map.of("url", urls.get(i),
                "timeout-seconds", Integer.toString(timeoutSeconds))));
    }

    static void signal(Process p, String signal) {
        try {
            new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start().waitFor();
        } catch (IOException | InterruptedException e) {
            throw new AssertionError("cannot send SIG" + signal + " to " + p.pid(), e);
        }
    }

    @Test
    void threeWorkerJvmsFuseAsInProcessAndAFailedWorkerIsNamedWithinTheDeadline() throws Exception {
        Path fusionYaml = BundledModels.dir().resolve("fusion.yaml");
        FusionOptions options;
        Generation local;
        try (ConfiguredFusion setup = FusionFactory.discover().create(fusionYaml)) {
            options = setup.options();
            local = setup.fusion().generate(PROMPT, options);
        }
        List<SourceModel> remote = new ArrayList<>();
        try {
            for (int i = 0; i < NAMES.size(); i++) {
                remote.add(remote(i, 5));
            }
            Generation fused = CoolFusion.builder().sources(remote).build().generate(PROMPT, options);
            assertEquals(local.text(), fused.text());
            assertEquals(local.steps().size(), fused.steps().size());
            for (int s = 0; s < local.steps().size(); s++) {
                assertEquals(local.steps().get(s).winner(), fused.steps().get(s).winner(), "step " + s);
                assertEquals(local.steps().get(s).emitted(), fused.steps().get(s).emitted(), "step " + s);
            }
            assertTrue(local.steps().size() > 3, "several steps: " + local.steps().size());

            // kill -STOP: the paused worker C answers nothing; its NextText's deadline (5 s) fails the fusion.
            AtomicInteger calls = new AtomicInteger();
            List<SourceModel> pausing = new ArrayList<>(remote);
            pausing.set(2, new Intercepted(remote.get(2), () -> {
                if (calls.incrementAndGet() == 3) {
                    signal(workers.get(2), "STOP");
                }
            }));
            long t0 = System.nanoTime();
            FusionException paused = assertThrows(FusionException.class,
                    () -> CoolFusion.builder().sources(pausing).build().generate(PROMPT, options));
            double pausedSeconds = (System.nanoTime() - t0) / 1e9;
            String address = urls.get(2).substring("http://".length());
            assertTrue(paused.getMessage().contains("worker " + address + " did not answer NextText")
                    && paused.getMessage().contains("within 5 s"), Failures.messages(paused));
            assertTrue(pausedSeconds < 30, "failed after " + pausedSeconds + " s");
            signal(workers.get(2), "CONT");

            // on-source-failure: drop, worker C killed mid-generation: the answer completes from A and B, and the
            // generation says that C was dropped, where and why.
            AtomicInteger cCalls = new AtomicInteger();
            List<SourceModel> dropping = new ArrayList<>(remote);
            dropping.set(2, new Intercepted(remote.get(2), () -> {
                if (cCalls.incrementAndGet() == 3) {
                    kill(workers.get(2));
                }
            }));
            FusionOptions drop = options.toBuilder().onSourceFailure(SourceFailurePolicy.DROP).build();
            t0 = System.nanoTime();
            Generation survived = CoolFusion.builder().sources(dropping).build().generate(PROMPT, drop);
            double survivedSeconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(1, survived.dropped().size(), "one source dropped: " + survived.dropped());
            DroppedSource dropped = survived.dropped().get(0);
            assertEquals("C", dropped.source());
            assertEquals(2, dropped.step(), "C's third T1 call is step 2's");
            assertTrue(dropped.reason().contains(address) && dropped.reason().contains("NextText"), dropped.reason());
            assertTrue(survived.steps().size() > dropped.step() + 1, "the generation went on after the drop");
            assertTrue(survived.steps().get(0).candidates().stream().anyMatch(c -> c.scorers().contains("C")),
                    "C took part before it was dropped");
            for (int s = dropped.step() + 1; s < survived.steps().size(); s++) {
                for (var candidate : survived.steps().get(s).candidates()) {
                    assertEquals(List.of("A", "B"), candidate.scorers(), "step " + s);
                }
            }
            assertTrue(!survived.text().isBlank() && survived.finish() != null, survived.text());
            assertTrue(survivedSeconds < 30, "finished after " + survivedSeconds + " s");

            // kill -9 mid-generation: the fusion fails at once, naming worker B and the call.
            AtomicInteger bCalls = new AtomicInteger();
            List<SourceModel> killing = new ArrayList<>(remote.subList(0, 2)); // C was killed above
            killing.set(1, new Intercepted(remote.get(1), () -> {
                if (bCalls.incrementAndGet() == 3) {
                    kill(workers.get(1));
                }
            }));
            t0 = System.nanoTime();
            FusionException killed = assertThrows(FusionException.class,
                    () -> CoolFusion.builder().sources(killing).build().generate(PROMPT, options));
            double killedSeconds = (System.nanoTime() - t0) / 1e9;
            String b = urls.get(1).substring("http://".length());
            assertTrue(killed.getMessage().contains(b) && killed.getMessage().contains("NextText")
                    && killed.getMessage().contains("source 'B'"), "the first failure names worker B: " + Failures.messages(killed));
            assertTrue(killedSeconds < 15, "failed after " + killedSeconds + " s");
        } finally {
            remote.forEach(SourceModel::close);
        }
    }

    /** kill -9, and wait until the process is gone. */
    static void kill(Process p) {
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A source that runs {@code before} ahead of each of its T1 calls (to kill or pause its worker then). */
    static final class Intercepted extends ForwardingSourceModel {
        final Runnable before;

        Intercepted(SourceModel inner, Runnable before) {
            super(inner);
            this.before = before;
        }

        @Override
        public Optional<ProposedSegment> nextText(SegmentRequest request) {
            before.run();
            return delegate().nextText(request);
        }
    }
}
