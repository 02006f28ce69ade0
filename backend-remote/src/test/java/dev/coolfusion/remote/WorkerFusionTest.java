package dev.coolfusion.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CandidateTrace;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ForwardingSourceModel;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import dev.coolfusion.testkit.BundledModels;
import dev.coolfusion.testkit.Failures;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Section 2.4's deployment on loopback: each bundled model on a worker of its own, T1 on the workers. The fused output
 * equals the in-process one token for token (greedy and sampled), each worker answers at most three calls per fused
 * step (NextText, Score, CommitAndRelease; counted by the worker), a worker that knows only its own model is sent the
 * other tokenizers, and a worker that stops answering fails the fusion within the deadline.
 */
class WorkerFusionTest {
    static final String PROMPT = "Question: Omar buys 8 crates of books. Each one holds 11 books. How many books does he"
            + " buy?\nAnswer:";
    static final List<String> NAMES = List.of("A", "B", "C");
    static List<DjlSourceModel> local = new ArrayList<>();
    static List<TableOneServer> workers = new ArrayList<>();
    final List<SourceModel> opened = new ArrayList<>();

    @BeforeAll
    static void serve() {
        for (String name : NAMES) {
            DjlSourceModel model = DjlSourceModel.load(BundledModels.dir().resolve(name.toLowerCase()),
                    DjlModelOptions.builder().name(name).build());
            local.add(model);
            workers.add(TableOneServer.builder().model(model).build().start());
        }
    }

    @AfterAll
    static void stop() {
        workers.forEach(TableOneServer::close);
        local.forEach(DjlSourceModel::close);
    }

    @AfterEach
    void closeClients() {
        opened.forEach(SourceModel::close);
        opened.clear();
    }

    List<SourceModel> remote(Map<String, String> extra) {
        List<SourceModel> out = new ArrayList<>();
        for (int i = 0; i < NAMES.size(); i++) {
            Map<String, String> options = new HashMap<>(extra);
            options.put("url", workers.get(i).uri().toString());
            SourceModel m = new RemoteSourceModelProvider().create(ProviderConfig.of("remote", options));
            opened.add(m);
            out.add(m);
        }
        return out;
    }

    static Generation fuse(List<? extends SourceModel> sources, FusionOptions options) {
        return CoolFusion.builder().sources(List.copyOf(sources)).build().generate(PROMPT, options);
    }

    static FusionOptions greedy() {
        return FusionOptions.builder().maxNewTokens(48).stopStrings(List.of("\n\n")).build();
    }

    @Test
    void workersWithT1FuseAsInProcessInAtMostThreeCallsPerWorkerPerStep() {
        Generation reference = fuse(local, greedy());
        List<SourceModel> remote = remote(Map.of());
        long[] before = workers.stream().mapToLong(TableOneServer::requestCount).toArray();
        Generation fused = fuse(remote, greedy());
        assertSame(reference, fused);
        int steps = fused.steps().size();
        assertTrue(steps > 3, "a fusion of several steps: " + steps);
        long[] t1Calls = new long[workers.size()];
        for (int i = 0; i < workers.size(); i++) {
            long calls = workers.get(i).requestCount() - before[i];
            t1Calls[i] = calls;
            // Open once, then per step NextText, Score and CommitAndRelease, and the last step's release.
            assertTrue(calls <= 3L * steps + 2, "worker " + NAMES.get(i) + ": " + calls + " calls for " + steps
                    + " steps: " + workers.get(i).requestCounts());
            assertEquals(0, workers.get(i).liveStates(), "the fusion released every state");
        }

        // The per-token path (worker-t1: false) gives the same text with a call per generated token.
        List<SourceModel> perToken = remote(Map.of("worker-t1", "false"));
        long[] perTokenBefore = workers.stream().mapToLong(TableOneServer::requestCount).toArray();
        long nextTextBefore = workers.get(0).requestCounts().getOrDefault("NextText", 0L);
        assertSame(reference, fuse(perToken, greedy()));
        long perTokenCalls = 0;
        long t1Total = 0;
        for (int i = 0; i < workers.size(); i++) {
            perTokenCalls += workers.get(i).requestCount() - perTokenBefore[i];
            t1Total += t1Calls[i];
        }
        assertTrue(perTokenCalls > t1Total, "per token: " + perTokenCalls + " calls, T1 on the workers: " + t1Total);
        assertEquals(nextTextBefore, workers.get(0).requestCounts().getOrDefault("NextText", 0L), "no NextText");
    }

    @Test
    void sampledFusionIsTheSameWhereverT1Runs() {
        FusionOptions sampled = FusionOptions.builder().maxNewTokens(40).stopStrings(List.of("\n\n")).temperature(0.9)
                .topP(0.95).seed(7).build();
        assertSame(fuse(local, sampled), fuse(remote(Map.of()), sampled));
    }

    @Test
    void aWorkerThatKnowsOnlyItsOwnModelIsSentTheOtherTokenizers() {
        // Without local tokenizer copies the fusion's other tokenizers are named by digest only (no folder): each
        // worker asks for them, the client fetches their files from their own workers and registers them.
        int[] before = workers.stream().mapToInt(TableOneServer::registeredTokenizers).toArray();
        List<SourceModel> remote = remote(Map.of("fetch-tokenizer", "false"));
        assertSame(fuse(local, greedy()), fuse(remote, greedy()));
        for (int i = 0; i < workers.size(); i++) {
            Map<String, Long> counts = workers.get(i).requestCounts();
            assertTrue(workers.get(i).registeredTokenizers() >= Math.max(before[i], 2) || before[i] >= 2,
                    NAMES.get(i) + " knows the two other tokenizers: " + counts);
            assertTrue(counts.getOrDefault("ExportTokenizer", 0L) >= 1 || before[i] >= 2, String.valueOf(counts));
        }
        // A second fusion finds them registered.
        long registrations = workers.get(1).requestCounts().getOrDefault("RegisterTokenizer", 0L);
        fuse(remote(Map.of("fetch-tokenizer", "false")), greedy());
        assertEquals(registrations, workers.get(1).requestCounts().getOrDefault("RegisterTokenizer", 0L));
    }

    @Test
    void aWorkerThatStopsAnsweringFailsTheFusionWithinTheDeadline() throws Exception {
        CountDownLatch stuck = new CountDownLatch(1);
        Stalling stalling = new Stalling(local.get(1), stuck);
        TableOneServer hung = TableOneServer.builder().model(stalling).build().start();
        try {
            SourceModel a = remote(Map.of()).get(0);
            SourceModel b = new RemoteSourceModelProvider().create(ProviderConfig.of("remote", Map.of("url",
                    hung.uri().toString(), "timeout-seconds", "2")));
            opened.add(b);
            stalling.stall = true;
            long t0 = System.nanoTime();
            FusionException e = assertThrows(FusionException.class,
                    () -> CoolFusion.builder().addSource(a).addSource(b).build().generate(PROMPT, greedy()));
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < 10, "failed after " + seconds + " s");
            String address = hung.uri().getHost() + ":" + hung.uri().getPort();
            String all = Failures.messages(e);
            assertTrue(all.contains("worker " + address + " did not answer NextText") && all.contains("within 2 s"),
                    all);
            assertTrue(e.getMessage().contains("did not answer NextText"), "the first failure is reported, not the"
                    + " clean-up's: " + e.getMessage());
        } finally {
            stuck.countDown();
            hung.close();
        }
    }

    /** A model whose nextToken blocks (as a paused worker) once {@code stall} is set. */
    static final class Stalling extends ForwardingSourceModel {
        final CountDownLatch release;
        volatile boolean stall;

        Stalling(SourceModel inner, CountDownLatch release) {
            super(inner);
            this.release = release;
        }

        @Override
        public TokenStep nextToken(StateHandle state, Decoding decoding) {
            if (stall) {
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return delegate().nextToken(state, decoding);
        }
    }

    static void assertSame(Generation expected, Generation actual) {
        assertEquals(expected.text(), actual.text());
        assertEquals(expected.finish(), actual.finish());
        assertEquals(expected.steps().size(), actual.steps().size());
        for (int i = 0; i < expected.steps().size(); i++) {
            StepTrace a = expected.steps().get(i);
            StepTrace b = actual.steps().get(i);
            assertEquals(a.winner(), b.winner(), "step " + i);
            assertEquals(a.emitted(), b.emitted(), "step " + i);
            assertEquals(a.candidates().size(), b.candidates().size(), "step " + i);
            for (int c = 0; c < a.candidates().size(); c++) {
                CandidateTrace x = a.candidates().get(c);
                CandidateTrace y = b.candidates().get(c);
                assertEquals(x.text(), y.text(), "step " + i);
                assertEquals(x.proposers(), y.proposers(), "step " + i);
                assertEquals(x.score(), y.score(), 0.0, "step " + i + " candidate " + c);
            }
        }
    }
}
