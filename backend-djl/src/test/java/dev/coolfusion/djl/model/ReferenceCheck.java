package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Compares a model folder with the transformers logits of its {@code reference.json} (their log-softmax, 1e-4
 * absolute, float32): one forward over every position without a cache, forwards of each prefix, one scoring forward
 * after the first token, the cached path (the prefix, then single-token steps, against {@code
 * logits_last_after_prefix}), scoring the rest from the prefix batched with shorter candidates, and batched scoring
 * against scoring each candidate alone.
 *
 * <p>The model runs without its prefix cache, so that each {@code open} is a prefill of its own ({@code
 * PrefixCacheTest} checks that reuse gives the same numbers).
 *
 * <p>Longrope: transformers computes a sequence longer than {@code original_max_position_embeddings} with the long
 * factors at every position, so a prefix within that length, computed alone, is compared only where it uses the same
 * factors as the reference's whole sequence (and is checked to differ elsewhere).
 */
final class ReferenceCheck {
    static final double TOLERANCE = 1e-4;
    private static final double BATCH_TOLERANCE = 1e-5;
    private static final ObjectMapper JSON = new ObjectMapper();

    private ReferenceCheck() {}

    static JsonNode reference(Path dir) {
        try {
            return JSON.readTree(dir.resolve("reference.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs every comparison on the model in {@code dir} against {@code ref}; returns the largest difference seen. */
    static double run(Path dir, JsonNode ref, String label) {
        ModelConfig.LongRope longRope = ModelConfig.read(dir).longRope();
        int longAfter = longRope == null ? Integer.MAX_VALUE : longRope.originalMaxPositions();
        Worst worst = new Worst();
        int prefix = ref.get("prefix_len").asInt();
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build())) {
            int vocab = model.vocabularySize().getAsInt();
            for (int seq = 0; seq < ref.get("input_ids").size(); seq++) {
                List<Integer> ids = new ArrayList<>();
                ref.get("input_ids").get(seq).forEach(n -> ids.add(n.asInt()));
                JsonNode expected = ref.get("logits").get(seq);
                String what = label + " seq " + seq;
                boolean longSeq = ids.size() > longAfter;

                // 1. One forward over every position, without a cache (transformers' forward of the sequence).
                float[] full = StateSteps.flat(model.sequenceLogProbs(ids));
                for (int t = 0; t < ids.size(); t++) {
                    worst.logProbs(expected.get(t), Arrays.copyOfRange(full, t * vocab, (t + 1) * vocab),
                            what + " full forward pos " + t);
                }
                // 2. Each prefix alone, where it uses the factors of the whole sequence.
                float[] uncached = UncachedForwards.logProbs(model, ids);
                for (int t = 0; t < ids.size(); t++) {
                    float[] lp = Arrays.copyOfRange(uncached, t * vocab, (t + 1) * vocab);
                    if ((t + 1 > longAfter) == longSeq) {
                        worst.logProbs(expected.get(t), lp, what + " prefix forward pos " + t);
                    } else if (t > 0) { // position 0 attends to itself only: the factors cannot matter
                        double diff = maxDiff(logSoftmax(expected.get(t)), lp);
                        assertTrue(diff > 10 * TOLERANCE, what + " pos " + t + ": a prefix within the original length"
                                + " should use short factors and differ from the long sequence's, differs by " + diff);
                    }
                }
                // 3. One scoring forward over the sequence after its first token.
                StateHandle first = model.open(ids.subList(0, 1));
                ScoredTokens whole = model.score(first, List.of(ids.subList(1, ids.size()))).get(0);
                for (int t = 1; t < ids.size(); t++) {
                    worst.value(logSoftmax(expected.get(t - 1))[ids.get(t)], whole.logProbs().get(t - 1),
                            what + " one scoring forward pos " + t);
                }
                worst.logProbs(expected.get(ids.size() - 1), model.nextLogProbs(whole.state()), what + " one forward last");
                model.release(List.of(first, whole.state()));

                // 4. Cached: the prefix, then single-token steps.
                StateHandle state = model.open(ids.subList(0, prefix));
                worst.logProbs(expected.get(prefix - 1), model.nextLogProbs(state), what + " prefix pos " + (prefix - 1));
                List<StateHandle> handles = new ArrayList<>(List.of(state));
                for (int t = prefix; t < ids.size(); t++) {
                    state = StateSteps.append(model, state, ids.get(t));
                    handles.add(state);
                    worst.logProbs(expected.get(t), model.nextLogProbs(state), what + " cached step pos " + t);
                }
                worst.logProbs(ref.get("logits_last_after_prefix").get(seq), model.nextLogProbs(state),
                        what + " logits_last_after_prefix");

                // 5. Scoring the rest from the prefix state, batched with shorter candidates ...
                List<Integer> rest = ids.subList(prefix, ids.size());
                List<List<Integer>> candidates = List.of(rest.subList(0, 2), rest, rest.subList(0, 1));
                List<ScoredTokens> scored = model.score(handles.get(0), candidates);
                List<Double> lps = scored.get(1).logProbs();
                for (int i = 0; i < rest.size(); i++) {
                    worst.value(logSoftmax(expected.get(prefix - 1 + i))[rest.get(i)], lps.get(i),
                            what + " scored token " + i);
                }
                worst.logProbs(expected.get(ids.size() - 1), model.nextLogProbs(scored.get(1).state()), what + " scored state");
                scored.forEach(s -> handles.add(s.state()));
                // ... equal to scoring each alone.
                for (int c = 0; c < candidates.size(); c++) {
                    ScoredTokens alone = model.score(handles.get(0), List.of(candidates.get(c))).get(0);
                    handles.add(alone.state());
                    for (int i = 0; i < alone.logProbs().size(); i++) {
                        assertEquals(alone.logProbs().get(i), scored.get(c).logProbs().get(i), BATCH_TOLERANCE,
                                what + " candidate " + c + " token " + i + ": batched vs alone");
                    }
                    assertTrue(maxDiff(model.nextLogProbs(alone.state()), model.nextLogProbs(scored.get(c).state()))
                            <= BATCH_TOLERANCE, what + " candidate " + c + ": state after batched vs alone");
                }
                model.release(handles);
            }
            assertEquals(0, model.liveStates());
            assertEquals(new DjlSourceModel.CacheStats(0, 0, model.cacheStats().prefixCopies(), 0), model.cacheStats());
        }
        return worst.max;
    }

    /** The largest difference seen so far; fails on the first one above the tolerance. */
    static final class Worst {
        double max;

        void logProbs(JsonNode expectedLogits, float[] actual, String what) {
            double diff = maxDiff(logSoftmax(expectedLogits), actual);
            max = Math.max(max, diff);
            assertTrue(diff <= TOLERANCE, what + ": max abs diff of log-probs " + diff);
        }

        void value(double expected, double actual, String what) {
            double diff = Math.abs(expected - actual);
            max = Math.max(max, diff);
            assertTrue(diff <= TOLERANCE, what + ": expected " + expected + ", got " + actual + " (diff " + diff + ")");
        }
    }

    static double maxDiff(double[] want, float[] actual) {
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(want[i] - actual[i]));
        }
        return worst;
    }

    static double maxDiff(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    static double[] logSoftmax(JsonNode logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (JsonNode n : logits) {
            max = Math.max(max, n.asDouble());
        }
        double sum = 0;
        for (JsonNode n : logits) {
            sum += Math.exp(n.asDouble() - max);
        }
        double lse = max + Math.log(sum);
        double[] out = new double[logits.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = logits.get(i).asDouble() - lse;
        }
        return out;
    }
}
