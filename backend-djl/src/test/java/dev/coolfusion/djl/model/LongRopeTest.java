package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The longrope policy (Phi-3 128k) on {@code hf-tiny2/phi3-longrope-long} (original length 16, sequences of 36): every
 * forward uses the factors transformers uses for the whole sequence it computes, and the first forward past 16
 * positions after a state cached with short factors recomputes that state's prefix with the long ones. So a
 * generation that crosses the threshold gets, at every position, what transformers computes for the sequence so far:
 * within 16 positions the short-factor forward of the prefix, beyond them the reference's long-factor logits.
 */
class LongRopeTest {
    private static final double TOL = ReferenceCheck.TOLERANCE;
    private Path dir;
    private JsonNode ref;
    private List<Integer> ids;

    @BeforeEach
    void fixture() {
        dir = Fixtures.hfTiny2("phi3-longrope-long");
        ref = ReferenceCheck.reference(dir);
        ids = new ArrayList<>();
        ref.get("input_ids").get(0).forEach(n -> ids.add(n.asInt()));
        assertEquals(16, ModelConfig.read(dir).longRope().originalMaxPositions());
    }

    private double[] expected(int position) {
        return ReferenceCheck.logSoftmax(ref.get("logits").get(0).get(position));
    }

    /** transformers' forward of the prefix ending at {@code position} alone, at its last position. */
    private static float[] ownSequence(DjlSourceModel model, List<Integer> ids, int position) {
        int vocab = model.vocabularySize().getAsInt();
        float[] all = StateSteps.flat(model.sequenceLogProbs(ids.subList(0, position + 1)));
        return Arrays.copyOfRange(all, position * vocab, (position + 1) * vocab);
    }

    @Test
    void generationCrossingTheOriginalLengthRecomputesOnceAndMatchesTransformersAtEveryPosition() {
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build())) {
            StateHandle state = model.open(ids.subList(0, 10));
            List<StateHandle> handles = new ArrayList<>(List.of(state));
            for (int t = 10; t < ids.size(); t++) {
                state = StateSteps.append(model, state, ids.get(t));
                handles.add(state);
                float[] lp = model.nextLogProbs(state);
                if (t + 1 > 16) {
                    // Past the original length: the reference's long-factor logits (the cache was recomputed at 17).
                    assertTrue(ReferenceCheck.maxDiff(expected(t), lp) <= TOL, "step to position " + t);
                } else {
                    // Within it: transformers' forward of the 16 or fewer tokens, with short factors.
                    assertTrue(ReferenceCheck.maxDiff(ownSequence(model, ids, t), lp) <= 1e-5, "step to position " + t);
                    assertTrue(ReferenceCheck.maxDiff(expected(t), lp) > 10 * TOL, "short factors at position " + t);
                }
            }
            assertTrue(ReferenceCheck.maxDiff(ReferenceCheck.logSoftmax(ref.get("logits_last_after_prefix").get(0)),
                    model.nextLogProbs(state)) <= TOL, "logits_last_after_prefix after crossing");
            model.release(handles);
            assertEquals(new DjlSourceModel.CacheStats(0, 0, model.cacheStats().prefixCopies(), 0), model.cacheStats());
        }
    }

    @Test
    void branchesAtTheThresholdEachRecompute() {
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build())) {
            StateHandle at16 = model.open(ids.subList(0, 16));
            StateHandle a = StateSteps.append(model, at16, ids.get(16)); // the true continuation
            StateHandle b = StateSteps.append(model, at16, 7); // another one from the same state
            StateHandle a2 = StateSteps.append(model, a, ids.get(17));
            assertTrue(ReferenceCheck.maxDiff(expected(16), model.nextLogProbs(a)) <= TOL);
            assertTrue(ReferenceCheck.maxDiff(expected(17), model.nextLogProbs(a2)) <= TOL);
            List<Integer> other = new ArrayList<>(ids.subList(0, 16));
            other.add(7);
            assertTrue(ReferenceCheck.maxDiff(ownSequence(model, other, 16), model.nextLogProbs(b)) <= 1e-5);
            model.release(List.of(at16, a, b, a2));
            assertEquals(0, model.liveStates());
        }
    }

    @Test
    void scoringAcrossTheThresholdIsOneForwardOverStateAndCandidate() {
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build())) {
            StateHandle state = model.open(ids.subList(0, 10));
            List<Integer> rest = ids.subList(10, ids.size());
            List<Integer> shortOne = rest.subList(0, 3); // 13 tokens in all: short factors
            List<ScoredTokens> scored = model.score(state, List.of(shortOne, rest, List.of()));
            // The long candidate: transformers' forward of the 36 tokens, from the state's last position on.
            for (int i = 0; i < rest.size(); i++) {
                assertEquals(expected(9 + i)[rest.get(i)], scored.get(1).logProbs().get(i), TOL, "long candidate " + i);
            }
            assertTrue(ReferenceCheck.maxDiff(expected(35), model.nextLogProbs(scored.get(1).state())) <= TOL);
            // The short one: the forward of its own 13 tokens.
            List<Integer> thirteen = ids.subList(0, 13);
            float[] own = StateSteps.flat(model.sequenceLogProbs(thirteen));
            int vocab = model.vocabularySize().getAsInt();
            for (int i = 0; i < shortOne.size(); i++) {
                assertEquals(own[(9 + i) * vocab + shortOne.get(i)], scored.get(0).logProbs().get(i), 1e-5,
                        "short candidate " + i);
            }
            // Batched equals alone, and a scored state grows across the threshold like any other.
            ScoredTokens alone = model.score(state, List.of(rest)).get(0);
            for (int i = 0; i < rest.size(); i++) {
                assertEquals(alone.logProbs().get(i), scored.get(1).logProbs().get(i), 1e-5);
            }
            StateHandle grown = scored.get(0).state();
            List<StateHandle> handles = new ArrayList<>(List.of(state, alone.state(), scored.get(1).state(),
                    scored.get(2).state()));
            for (int t = 13; t < ids.size(); t++) {
                handles.add(grown);
                grown = StateSteps.append(model, grown, ids.get(t));
                if (t + 1 > 16) {
                    assertTrue(ReferenceCheck.maxDiff(expected(t), model.nextLogProbs(grown)) <= TOL, "grown to " + t);
                }
            }
            handles.add(grown);
            // The tempered NLL is the same forward: at T = 1 minus the scores' sum, at T from the reference's logits.
            double[] temps = {1.0, 0.5};
            double[] nll = model.nllAtTemperatures(state, rest, temps).orElseThrow();
            double sum = scored.get(1).logProbs().stream().mapToDouble(Double::doubleValue).sum();
            assertEquals(-sum, nll[0], 1e-3);
            double want = 0;
            for (int i = 0; i < rest.size(); i++) {
                JsonNode logits = ref.get("logits").get(0).get(9 + i);
                double[] tempered = new double[logits.size()];
                for (int v = 0; v < tempered.length; v++) {
                    tempered[v] = logits.get(v).asDouble() / 0.5;
                }
                want -= logSoftmax(tempered)[rest.get(i)];
            }
            assertEquals(want, nll[1], 1e-3);
            model.release(handles);
            assertEquals(0, model.liveStates());
            assertEquals(new DjlSourceModel.CacheStats(0, 0, model.cacheStats().prefixCopies(), 0), model.cacheStats());
        }
    }

    private static double[] logSoftmax(double[] x) {
        double max = Arrays.stream(x).max().orElseThrow();
        double sum = 0;
        for (double v : x) {
            sum += Math.exp(v - max);
        }
        double lse = max + Math.log(sum);
        return Arrays.stream(x).map(v -> v - lse).toArray();
    }
}
