package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.nio.file.Path;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Batching across calls: nextToken and score calls of different generations that queue while the engine is busy run
 * as one forward, each row after its own state, and give what each call gives alone (1e-5 on log-probs, the same
 * tokens) on every architecture: different past lengths (padding), sliding windows shorter than the pasts, Gemma's
 * soft-caps, per-head norms, longrope states on both sides of the original length.
 *
 * <p>To make the calls queue deterministically, a caller first keeps the engine busy: the prompt it opens blocks while
 * it is read (which happens on the engine's turn); the calls then queue, and the test waits until every calling thread
 * waits, before letting it go.
 */
class BatchingAcrossCallsTest {
    private static final double TOL = 1e-5;
    private static ExecutorService threads;

    @BeforeAll
    static void start() {
        threads = Executors.newCachedThreadPool();
    }

    @AfterAll
    static void stop() {
        threads.shutdownNow();
    }

    @ParameterizedTest
    @ValueSource(strings = {"hf-tiny/llama", "hf-tiny/qwen2", "hf-tiny/phi3", "hf-tiny/llama-tied",
        "hf-tiny2/mistral-sliding-window", "hf-tiny2/phi3-longrope-long", "hf-tiny2/gemma2", "hf-tiny2/gemma3",
        "hf-tiny2/glm4", "hf-tiny2/qwen3"})
    void batchedCallsGiveWhatEachCallGivesAlone(String fixture) throws Exception {
        Path dir = Fixtures.named(fixture);
        try (DjlSourceModel batched = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build());
                DjlSourceModel alone = alone(dir)) {
            int vocab = batched.vocabularySize().getAsInt();
            Random random = new Random(fixture.hashCode());
            // Five generations with prompts of different lengths (3 to 15 tokens: past the sliding windows of 6, and
            // with longrope, some crossing its original length of 16 while decoding).
            int[] lengths = {3, 15, 8, 12, 5};
            List<StateHandle> states = new ArrayList<>();
            List<StateHandle> reference = new ArrayList<>();
            for (int length : lengths) {
                List<Integer> prompt = new ArrayList<>(List.of(1));
                while (prompt.size() < length) {
                    prompt.add(3 + random.nextInt(vocab - 3));
                }
                states.add(batched.open(prompt));
                reference.add(alone.open(prompt));
            }
            long batchedCallsSeen = 0;
            for (int step = 0; step < 4; step++) {
                // nextToken of every generation at once: greedy, and sampled with a fixed draw per generation.
                List<Decoding> decodings = new ArrayList<>();
                for (int g = 0; g < states.size(); g++) {
                    decodings.add(g % 2 == 0 ? Decoding.GREEDY : new Decoding(0.8, 0.95, (g * 0.19 + step * 0.07) % 1));
                }
                DjlSourceModel.BatchStats before = batched.batchStats();
                List<TokenStep> steps = whileBusy(batched, states.size(), g -> batched.nextToken(states.get(g),
                        decodings.get(g)));
                batchedCallsSeen += batched.batchStats().minus(before).calls();
                for (int g = 0; g < states.size(); g++) {
                    String what = fixture + " generation " + g + " step " + step;
                    TokenStep expected = alone.nextToken(reference.get(g), decodings.get(g));
                    TokenStep actual = steps.get(g);
                    assertEquals(expected.token(), actual.token(), what + ": token");
                    assertEquals(expected.logProb(), actual.logProb(), TOL, what + ": token log-prob");
                    assertMaxDiff(alone.nextLogProbs(expected.state()), batched.nextLogProbs(actual.state()), what);
                    states.set(g, actual.state());
                    reference.set(g, expected.state());
                }
                // Every generation scores candidates of different lengths (and an empty one) at once.
                List<List<List<Integer>>> candidates = new ArrayList<>();
                for (int g = 0; g < states.size(); g++) {
                    List<List<Integer>> mine = new ArrayList<>();
                    for (int c = 0; c < 3; c++) {
                        List<Integer> candidate = new ArrayList<>();
                        for (int t = 0; t < 1 + (g + c + step) % 4; t++) {
                            candidate.add(3 + random.nextInt(vocab - 3));
                        }
                        mine.add(candidate);
                    }
                    mine.add(List.of());
                    candidates.add(mine);
                }
                before = batched.batchStats();
                List<List<ScoredTokens>> scored = whileBusy(batched, states.size(),
                        g -> batched.score(states.get(g), candidates.get(g)));
                batchedCallsSeen += batched.batchStats().minus(before).calls();
                for (int g = 0; g < states.size(); g++) {
                    List<ScoredTokens> expected = alone.score(reference.get(g), candidates.get(g));
                    List<ScoredTokens> actual = scored.get(g);
                    for (int c = 0; c < expected.size(); c++) {
                        String what = fixture + " generation " + g + " step " + step + " candidate " + c;
                        List<Double> e = expected.get(c).logProbs();
                        List<Double> a = actual.get(c).logProbs();
                        assertEquals(e.size(), a.size(), what + ": scores");
                        for (int t = 0; t < e.size(); t++) {
                            assertEquals(e.get(t), a.get(t), TOL, what + " token " + t);
                        }
                        assertMaxDiff(alone.nextLogProbs(expected.get(c).state()),
                                batched.nextLogProbs(actual.get(c).state()), what + ": after it");
                    }
                    // Continue the generation from its first candidate, so that the next step decodes after a
                    // scored (segment) state.
                    states.set(g, actual.get(0).state());
                    reference.set(g, expected.get(0).state());
                }
            }
            // Without longrope every call of a round joined one forward (with longrope, generations whose states
            // must be recomputed with the long factors run alone).
            boolean longRope = ModelConfig.read(dir).longRope() != null;
            assertTrue(longRope ? batchedCallsSeen > 0 : batchedCallsSeen == 8L * states.size(),
                    fixture + ": calls run in batched forwards: " + batchedCallsSeen);
            assertEquals(0, alone.batchStats().calls(), "batch-rows 1 never batches");
        }
    }

    /**
     * The copies of stores that batched decode steps keep across forwards follow rewrites: states decoded ahead are
     * released, a different continuation overwrites those positions in place, and the next batched steps read the new
     * keys, not the copied old ones (the fusion does this whenever a proposer's look-ahead loses).
     */
    @ParameterizedTest
    @ValueSource(strings = {"hf-tiny/llama", "hf-tiny2/mistral-sliding-window"})
    void batchedStepsAfterARewrittenTailReadTheNewKeys(String fixture) throws Exception {
        Path dir = Fixtures.named(fixture);
        try (DjlSourceModel batched = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build());
                DjlSourceModel alone = alone(dir)) {
            int vocab = batched.vocabularySize().getAsInt();
            Random random = new Random(11);
            List<StateHandle> roots = new ArrayList<>();
            List<StateHandle> refRoots = new ArrayList<>();
            for (int length : new int[] {9, 4, 7}) {
                List<Integer> prompt = new ArrayList<>(List.of(1));
                while (prompt.size() < length) {
                    prompt.add(3 + random.nextInt(vocab - 3));
                }
                roots.add(batched.open(prompt));
                refRoots.add(alone.open(prompt));
            }
            int n = roots.size();
            // Three batched steps ahead of each root (the copies now hold those positions), then let them go.
            List<StateHandle> ahead = new ArrayList<>(roots);
            List<StateHandle> letGo = new ArrayList<>();
            for (int step = 0; step < 3; step++) {
                List<StateHandle> from = List.copyOf(ahead);
                List<TokenStep> steps = whileBusy(batched, n, g -> batched.nextToken(from.get(g), Decoding.GREEDY));
                for (int g = 0; g < n; g++) {
                    ahead.set(g, steps.get(g).state());
                    letGo.add(steps.get(g).state());
                }
            }
            int storesBefore = batched.cacheStats().stores();
            batched.release(letGo);
            // A different continuation of each root, written in place over the released positions.
            List<StateHandle> current = new ArrayList<>();
            List<StateHandle> reference = new ArrayList<>();
            for (int g = 0; g < n; g++) {
                List<Integer> other = List.of(3 + random.nextInt(vocab - 3), 3 + random.nextInt(vocab - 3));
                StateHandle c = batched.score(roots.get(g), List.of(other)).get(0).state();
                StateHandle r = alone.score(refRoots.get(g), List.of(other)).get(0).state();
                batched.nextToken(c, Decoding.GREEDY); // writes the candidate's keys into the store, in place
                current.add(c);
                reference.add(r);
            }
            assertEquals(storesBefore, batched.cacheStats().stores(), "the continuations were written in place");
            for (int step = 0; step < 3; step++) {
                List<StateHandle> from = List.copyOf(current);
                List<TokenStep> steps = whileBusy(batched, n, g -> batched.nextToken(from.get(g), Decoding.GREEDY));
                for (int g = 0; g < n; g++) {
                    TokenStep expected = alone.nextToken(reference.get(g), Decoding.GREEDY);
                    String what = fixture + " generation " + g + " step " + step + " after the rewrite";
                    assertEquals(expected.token(), steps.get(g).token(), what + ": token");
                    assertMaxDiff(alone.nextLogProbs(expected.state()), batched.nextLogProbs(steps.get(g).state()), what);
                    current.set(g, steps.get(g).state());
                    reference.set(g, expected.state());
                }
            }
        }
    }

    /**
     * More generations than {@code batch-rows} (two batches a round), rounds of varying size, and pasts that outgrow
     * their stores and the kept copies during batched steps: still what each call gives alone.
     */
    @Test
    void splitBatchesVaryingRoundsAndGrowingPastsGiveWhatEachCallGivesAlone() throws Exception {
        Path dir = Fixtures.hfTiny("llama");
        try (DjlSourceModel batched = DjlSourceModel.load(dir, DjlModelOptions.builder().batchRows(4).build());
                DjlSourceModel alone = alone(dir)) {
            int vocab = batched.vocabularySize().getAsInt();
            Random random = new Random(5);
            List<StateHandle> states = new ArrayList<>();
            List<StateHandle> reference = new ArrayList<>();
            for (int g = 0; g < 6; g++) {
                List<Integer> prompt = new ArrayList<>(List.of(1));
                while (prompt.size() < 56 + g) {
                    prompt.add(3 + random.nextInt(vocab - 3));
                }
                states.add(batched.open(prompt));
                reference.add(alone.open(prompt));
            }
            long stepsBatched = 0;
            for (int step = 0; step < 72; step++) {
                // Even steps: all six generations (a batch of 4 and one of 2); odd steps: three of them.
                List<Integer> these = step % 2 == 0 ? List.of(0, 1, 2, 3, 4, 5) : List.of(5, step % 5, 2 + step % 3);
                List<Integer> distinct = these.stream().distinct().toList();
                List<StateHandle> from = List.copyOf(states);
                DjlSourceModel.BatchStats before = batched.batchStats();
                List<TokenStep> steps = whileBusy(batched, distinct.size(),
                        i -> batched.nextToken(from.get(distinct.get(i)), Decoding.GREEDY));
                stepsBatched += batched.batchStats().minus(before).calls();
                for (int i = 0; i < distinct.size(); i++) {
                    int g = distinct.get(i);
                    TokenStep expected = alone.nextToken(reference.get(g), Decoding.GREEDY);
                    String what = "generation " + g + " step " + step;
                    assertEquals(expected.token(), steps.get(i).token(), what + ": token");
                    assertMaxDiff(alone.nextLogProbs(expected.state()), batched.nextLogProbs(steps.get(i).state()), what);
                    batched.release(List.of(from.get(g)));
                    alone.release(List.of(reference.get(g)));
                    states.set(g, steps.get(i).state());
                    reference.set(g, expected.state());
                }
            }
            assertTrue(stepsBatched > 200, "most steps ran batched: " + stepsBatched);
            assertTrue(batched.cacheStats().prefixCopies() > 0, "pasts outgrew their stores during batched steps");
            assertTrue(batched.cacheStats().copyBytes() > 0, "batched steps kept copies");
            batched.release(states);
        }
    }

    @Test
    void aCallFromInsideACallIsRefusedInsteadOfWaitingForItself() {
        Path dir = Fixtures.hfTiny("llama");
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            StateHandle s = model.open(List.of(1, 5, 9));
            List<Integer> reentrant = new AbstractList<>() {
                @Override
                public Integer get(int index) {
                    model.liveStates(); // read on the engine's turn, by the thread running the open
                    return 1;
                }

                @Override
                public int size() {
                    return 1;
                }
            };
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> model.open(reentrant));
            assertTrue(e.getMessage().contains("from inside another call"), e.getMessage());
            assertEquals(1, model.liveStates(), "the model still serves calls");
            model.release(List.of(s));
            assertEquals(0, model.liveStates());
        }
    }

    @Test
    void aFailingCallInABatchFailsAloneAndTheOthersComplete() throws Exception {
        Path dir = Fixtures.hfTiny("llama");
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            StateHandle a = model.open(List.of(1, 5, 9));
            StateHandle b = model.open(List.of(1, 7));
            StateHandle gone = model.open(List.of(1, 8));
            model.release(List.of(gone));
            List<StateHandle> handles = List.of(a, gone, b);
            List<Object> outcomes = whileBusy(model, 3, g -> {
                try {
                    return model.nextToken(handles.get(g), Decoding.GREEDY);
                } catch (FusionException e) {
                    return e;
                }
            });
            assertTrue(outcomes.get(0) instanceof TokenStep, "the first call completes: " + outcomes.get(0));
            assertTrue(outcomes.get(2) instanceof TokenStep, "the third call completes: " + outcomes.get(2));
            assertTrue(outcomes.get(1) instanceof FusionException e && e.getMessage().contains("unknown or released"),
                    "the released state's call fails with its own error: " + outcomes.get(1));
            assertEquals(2, model.batchStats().calls(), "the two valid calls ran together");
        }
    }

    @Test
    void badBatchRowsAreRefusedNamingTheOption() {
        FusionException e = assertThrows(FusionException.class, () -> DjlModelOptions.builder().batchRows(0));
        assertTrue(e.getMessage().startsWith("batch-rows must be >= 1") && e.getMessage().endsWith("got 0"),
                e.getMessage());
        DjlSourceModelProvider provider = new DjlSourceModelProvider();
        for (String bad : List.of("many", "2.5", "0")) {
            String m = assertThrows(FusionException.class, () -> provider.create(ProviderConfig.of("djl",
                    Map.of("path", "/no/such/model", "batch-rows", bad)))).getMessage();
            assertTrue(m.startsWith("provider 'djl'") && m.contains("batch-rows") && m.contains(bad), m);
        }
    }

    /** The reference: the same model running every call alone, without the prefix cache. */
    private static DjlSourceModel alone(Path dir) {
        return DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).batchRows(1).build());
    }

    /** A call of the generation with this index. */
    private interface PerGeneration<T> {
        T call(int generation) throws Exception;
    }

    /**
     * Runs {@code calls} calls on their own threads while the engine is busy with another caller's {@code release},
     * so that they all queue, then lets the engine go; their results in order.
     */
    private static <T> List<T> whileBusy(DjlSourceModel model, int calls, PerGeneration<T> call) throws Exception {
        CountDownLatch inEngine = new CountDownLatch(1);
        CountDownLatch letGo = new CountDownLatch(1);
        Future<?> busy = threads.submit(() -> model.release(List.of(model.open(new BlockingPrompt(inEngine, letGo)))));
        assertTrue(inEngine.await(30, TimeUnit.SECONDS), "the engine became busy");
        List<Thread> callers = new CopyOnWriteArrayList<>();
        List<Future<T>> results = new ArrayList<>();
        for (int g = 0; g < calls; g++) {
            int generation = g;
            CountDownLatch started = new CountDownLatch(1);
            Callable<T> task = () -> {
                callers.add(Thread.currentThread());
                started.countDown();
                return call.call(generation);
            };
            results.add(threads.submit(task));
            assertTrue(started.await(30, TimeUnit.SECONDS), "caller " + g + " started");
        }
        // Every caller waits in the queue before the engine is let go: WAITING in five polls in a row (the gate itself
        // is held for microseconds only, so a caller still taking it is not WAITING that long).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        int quiet = 0;
        while (quiet < 5) {
            assertTrue(System.nanoTime() < deadline, "the callers queued");
            Thread.sleep(1);
            quiet = callers.size() == calls && callers.stream().allMatch(t -> t.getState() == Thread.State.WAITING)
                    ? quiet + 1 : 0;
        }
        letGo.countDown();
        busy.get(30, TimeUnit.SECONDS);
        List<T> out = new ArrayList<>();
        for (Future<T> f : results) {
            out.add(f.get(60, TimeUnit.SECONDS));
        }
        return out;
    }

    /** A one-token prompt whose reading (on the engine's turn) signals {@code inEngine} and waits for {@code letGo}. */
    private static final class BlockingPrompt extends AbstractList<Integer> {
        private final CountDownLatch inEngine;
        private final CountDownLatch letGo;

        BlockingPrompt(CountDownLatch inEngine, CountDownLatch letGo) {
            this.inEngine = inEngine;
            this.letGo = letGo;
        }

        @Override
        public Integer get(int index) {
            inEngine.countDown();
            try {
                letGo.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return 1;
        }

        @Override
        public int size() {
            return 1;
        }
    }

    private static void assertMaxDiff(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": vocabulary");
        double max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(max <= TOL, what + ": max |diff| " + max + " > " + TOL);
    }
}
