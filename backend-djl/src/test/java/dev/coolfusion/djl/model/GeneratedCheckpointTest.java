package dev.coolfusion.djl.model;

import dev.coolfusion.testkit.TinyCheckpoints;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import dev.coolfusion.testkit.TinyCheckpoints.Spec;
import dev.coolfusion.testkit.TinyCheckpoints.WeightType;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * On seeded random checkpoints of every supported layout (sliding windows and longrope included, over 40 positions):
 * the KV-cache path equals forwards without a cache, scoring equals next-token steps, and batched scoring equals
 * one-by-one scoring.
 */
class GeneratedCheckpointTest {
    private static final double TOLERANCE = 1e-4;

    @TempDir
    static Path tmp;

    static Stream<Spec> variants() {
        return Stream.of(
                Spec.tiny(Arch.LLAMA, 1),
                Spec.tiny(Arch.LLAMA, 2).withLlama3Rope(true),
                Spec.tiny(Arch.LLAMA, 3).withTied(true),
                Spec.tiny(Arch.LLAMA, 4).withSharded(true),
                Spec.tiny(Arch.MISTRAL, 5),
                Spec.tiny(Arch.QWEN2, 6).withSharded(true),
                Spec.tiny(Arch.PHI3, 7),
                Spec.tiny(Arch.LLAMA, 8).withWeightType(WeightType.BF16),
                Spec.tiny(Arch.QWEN2, 9).withWeightType(WeightType.F16).withTied(true),
                // Sliding windows (through the cache, past the window), today's families, longrope across 16.
                Spec.tiny(Arch.MISTRAL, 10).withConfig("sliding_window", "5"),
                Spec.tiny(Arch.QWEN2, 11).withConfig("use_sliding_window", "true").withConfig("sliding_window", "6")
                        .withConfig("max_window_layers", "1"),
                Spec.tiny(Arch.QWEN3, 12).withTied(true),
                Spec.tiny(Arch.GLM, 13),
                Spec.tiny(Arch.GLM4, 14).withWeightType(WeightType.BF16),
                Spec.tiny(Arch.GEMMA2, 15).withTied(true),
                Spec.tiny(Arch.GEMMA3, 16).withTied(true),
                Spec.tiny(Arch.PHI3, 17).withConfig("original_max_position_embeddings", "16")
                        .withConfig("rope_scaling", "{\"type\":\"longrope\","
                                + "\"short_factor\":[1.0,1.1,1.3,1.6,2.0,2.5,3.1,3.8],"
                                + "\"long_factor\":[2.0,3.0,4.5,6.0,8.0,10.0,12.5,15.0]}"));
    }

    private static DjlSourceModel load(Spec spec) {
        Path dir = tmp.resolve(spec.arch() + "-" + spec.seed());
        if (!dir.resolve("config.json").toFile().exists()) {
            TinyCheckpoints.write(dir, spec);
        }
        return DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build()); // each open a prefill
    }

    private static List<Integer> randomTokens(Random random, int n, int vocab) {
        List<Integer> ids = new ArrayList<>();
        ids.add(1);
        while (ids.size() < n) {
            ids.add(3 + random.nextInt(vocab - 3));
        }
        return ids;
    }

    @ParameterizedTest
    @MethodSource("variants")
    void cachedStepsEqualUncachedForwards(Spec spec) {
        try (DjlSourceModel model = load(spec)) {
            int baseline = model.managedArrays();
            int vocab = model.vocabularySize().getAsInt();
            List<Integer> ids = randomTokens(new Random(spec.seed()), 40, vocab);
            float[] full = UncachedForwards.logProbs(model, ids);
            int prefix = 17;
            StateHandle state = model.open(ids.subList(0, prefix));
            List<StateHandle> handles = new ArrayList<>(List.of(state));
            assertLogProbsMatch(full, prefix - 1, vocab, model.nextLogProbs(state), spec + " prefix");
            for (int t = prefix; t < ids.size(); t++) {
                state = StateSteps.append(model, state, ids.get(t));
                handles.add(state);
                assertLogProbsMatch(full, t, vocab, model.nextLogProbs(state), spec + " step " + t);
            }
            model.release(handles);
            assertEquals(0, model.liveStates());
            assertEquals(new DjlSourceModel.CacheStats(0, 0, model.cacheStats().prefixCopies(), 0), model.cacheStats());
            assertEquals(baseline, model.managedArrays(), "every cache array freed");
        }
    }

    @ParameterizedTest
    @MethodSource("variants")
    void scoringEqualsNextTokenSteps(Spec spec) {
        try (DjlSourceModel model = load(spec)) {
            StateHandle root = model.open(randomTokens(new Random(spec.seed() + 100), 9, model.vocabularySize().getAsInt()));
            for (Decoding decoding : List.of(Decoding.GREEDY, new Decoding(0.9, 0.8, 0.37), new Decoding(1.5, 1.0, 0.91))) {
                List<Integer> tokens = new ArrayList<>();
                List<Double> stepLogProbs = new ArrayList<>();
                List<StateHandle> temps = new ArrayList<>();
                StateHandle s = root;
                for (int i = 0; i < 7; i++) {
                    TokenStep step = model.nextToken(s, decoding);
                    tokens.add(step.token());
                    stepLogProbs.add(step.logProb());
                    temps.add(step.state());
                    s = step.state();
                }
                ScoredTokens scored = model.score(root, List.of(tokens)).get(0);
                assertEquals(tokens.size(), scored.logProbs().size());
                for (int i = 0; i < tokens.size(); i++) {
                    assertEquals(stepLogProbs.get(i), scored.logProbs().get(i), TOLERANCE, spec + " " + decoding + " token " + i);
                }
                assertMaxDiff(model.nextLogProbs(s), model.nextLogProbs(scored.state()), spec + " state after chain vs scored");
                temps.add(scored.state());
                model.release(temps);
            }
            model.release(List.of(root));
        }
    }

    @ParameterizedTest
    @MethodSource("variants")
    void batchedScoringEqualsOneByOne(Spec spec) {
        try (DjlSourceModel model = load(spec)) {
            Random random = new Random(spec.seed() + 200);
            int vocab = model.vocabularySize().getAsInt();
            StateHandle root = model.open(randomTokens(random, 11, vocab));
            // A decode step first, so that the root's cache tail is taken and scoring must not write into it.
            TokenStep taken = model.nextToken(root, Decoding.GREEDY);
            List<List<Integer>> candidates = List.of(
                    randomTokens(random, 6, vocab).subList(1, 6),
                    randomTokens(random, 2, vocab).subList(1, 2),
                    List.of(),
                    randomTokens(random, 9, vocab).subList(1, 9));
            List<ScoredTokens> batched = model.score(root, candidates);
            assertEquals(candidates.size(), batched.size());
            List<StateHandle> all = new ArrayList<>(List.of(root, taken.state()));
            for (int i = 0; i < candidates.size(); i++) {
                ScoredTokens single = model.score(root, List.of(candidates.get(i))).get(0);
                ScoredTokens both = batched.get(i);
                assertEquals(candidates.get(i).size(), both.logProbs().size());
                for (int t = 0; t < single.logProbs().size(); t++) {
                    assertEquals(single.logProbs().get(t), both.logProbs().get(t), TOLERANCE, spec + " cand " + i + " tok " + t);
                }
                assertMaxDiff(model.nextLogProbs(single.state()), model.nextLogProbs(both.state()), spec + " cand " + i + " state");
                // Extending both states (the batched one is written into a store lazily) gives the same next steps.
                TokenStep a = model.nextToken(both.state(), Decoding.GREEDY);
                TokenStep b = model.nextToken(single.state(), Decoding.GREEDY);
                assertEquals(b.token(), a.token());
                assertMaxDiff(model.nextLogProbs(b.state()), model.nextLogProbs(a.state()), spec + " cand " + i + " after extension");
                all.addAll(List.of(single.state(), both.state(), a.state(), b.state()));
            }
            // The root is unchanged by all of this: a fresh greedy step matches the first one.
            TokenStep again = model.nextToken(root, Decoding.GREEDY);
            assertEquals(taken.token(), again.token());
            assertMaxDiff(model.nextLogProbs(taken.state()), model.nextLogProbs(again.state()), spec + " root stays valid");
            all.add(again.state());
            model.release(all);
            model.release(all); // releasing twice is a no-op
            assertEquals(0, model.liveStates());
            assertEquals(new DjlSourceModel.CacheStats(0, 0, model.cacheStats().prefixCopies(), 0), model.cacheStats());
        }
    }

    @ParameterizedTest
    @MethodSource("variants")
    void codecIsTheFolderTokenizer(Spec spec) {
        try (DjlSourceModel model = load(spec)) {
            assertEquals(List.of(5, 6, 300), model.codec().encode("t5 t6 t300").ids());
            assertEquals(Set.of(2), model.codec().endOfSequenceIds());
            assertTrue(model.codec().isSpecial(1));
        }
    }

    /** {@code actual} against the log-softmax of one position of a flat {@code [positions x vocab]} array. */
    private static void assertLogProbsMatch(float[] logits, int position, int vocab, float[] actual, String what) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[position * vocab + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[position * vocab + i] - max);
        }
        double lse = max + Math.log(sum);
        double worst = 0;
        for (int i = 0; i < vocab; i++) {
            worst = Math.max(worst, Math.abs(logits[position * vocab + i] - lse - actual[i]));
        }
        assertTrue(worst <= TOLERANCE, what + ": max abs diff " + worst);
    }

    private static void assertMaxDiff(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length);
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(worst <= TOLERANCE, what + ": max abs diff " + worst);
        assertArrayEquals(new float[0], new float[0]);
    }
}
