package dev.coolfusion.djl.model;

import dev.coolfusion.testkit.TinyCheckpoints;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import dev.coolfusion.testkit.TinyCheckpoints.Spec;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The calibration temperature turns the model's distribution into {@code softmax(logits / T)} on every path that
 * reports log-probabilities (prefill, cached decode step, batched scoring), and leaves greedy choices alone.
 */
class CalibrationTemperatureTest {
    @TempDir
    static Path tmp;

    static Path dir;

    @BeforeAll
    static void checkpoint() {
        dir = tmp.resolve("m");
        TinyCheckpoints.write(dir, Spec.tiny(Arch.LLAMA, 31));
    }

    /**
     * log_softmax(logits / t) of one position of a flat [positions x vocab] array of logits or of the raw model's
     * log-probs: they differ by a constant per position, which the log-softmax removes.
     */
    private static double scaledLogProb(float[] logits, int vocab, int position, int token, double t) {
        int off = position * vocab;
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            max = Math.max(max, logits[off + v] / t);
        }
        double z = 0;
        for (int v = 0; v < vocab; v++) {
            z += Math.exp(logits[off + v] / t - max);
        }
        return logits[off + token] / t - max - Math.log(z);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.5, 0.8, 1.7})
    void everyReportedLogProbIsTheTemperatureScaledSoftmax(double t) {
        List<Integer> prompt = List.of(1, 40, 41, 42, 43);
        List<Integer> candidate = List.of(17, 3, 60);
        try (DjlSourceModel raw = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build());
                DjlSourceModel calibrated = DjlSourceModel.load(dir, DjlModelOptions.builder().calibrationTemperature(t).build())) {
            List<Integer> all = new ArrayList<>(prompt);
            all.addAll(candidate);
            float[] rawLogProbs = UncachedForwards.logProbs(raw, all);
            int vocab = raw.vocabularySize().getAsInt();

            StateHandle open = calibrated.open(prompt);
            float[] next = calibrated.nextLogProbs(open);
            for (int token = 0; token < vocab; token += 7) {
                assertEquals(scaledLogProb(rawLogProbs, vocab, prompt.size() - 1, token, t), next[token], 1e-4, "token " + token);
            }
            List<ScoredTokens> scored = calibrated.score(open, List.of(candidate, candidate.subList(0, 1)));
            for (int i = 0; i < candidate.size(); i++) {
                assertEquals(scaledLogProb(rawLogProbs, vocab, prompt.size() - 1 + i, candidate.get(i), t),
                        scored.get(0).logProbs().get(i), 1e-4, "candidate token " + i);
            }
            TokenStep step = calibrated.nextToken(open, Decoding.GREEDY);
            StateHandle rawOpen = raw.open(prompt);
            TokenStep rawStep = raw.nextToken(rawOpen, Decoding.GREEDY);
            assertEquals(rawStep.token(), step.token(), "greedy choice must not depend on the calibration temperature");
            assertEquals(scaledLogProb(rawLogProbs, vocab, prompt.size() - 1, step.token(), t), step.logProb(), 1e-4);
            assertNotEquals(rawStep.logProb(), step.logProb(), 1e-6, "a temperature other than 1 changes the log-prob");
            // The distribution after the scored candidate (batched path) and after the generated step (decode path,
            // with its cache extended by one token) are both scaled.
            float[] afterScored = calibrated.nextLogProbs(scored.get(0).state());
            List<Integer> stepped = new ArrayList<>(prompt);
            stepped.add(step.token());
            float[] steppedRawLogProbs = UncachedForwards.logProbs(raw, stepped);
            float[] afterStep = calibrated.nextLogProbs(step.state());
            for (int token = 0; token < vocab; token += 7) {
                assertEquals(scaledLogProb(rawLogProbs, vocab, all.size() - 1, token, t), afterScored[token], 1e-4,
                        "after the scored candidate, token " + token);
                assertEquals(scaledLogProb(steppedRawLogProbs, vocab, stepped.size() - 1, token, t), afterStep[token], 1e-4,
                        "after the generated step, token " + token);
            }
        }
    }

    @Test
    void providerReadsTheOptionAndTemperatureOneIsTheRawModel() {
        DjlSourceModelProvider provider = new DjlSourceModelProvider();
        List<Integer> prompt = List.of(1, 50, 51);
        try (SourceModel raw = DjlSourceModel.load(dir, DjlModelOptions.defaults());
                SourceModel one = provider.create(ProviderConfig.of("djl",
                        Map.of("path", dir.toString(), "calibration-temperature", "1")));
                SourceModel hot = provider.create(ProviderConfig.of("djl",
                        Map.of("path", dir.toString(), "calibration-temperature", "2.5")));
                SourceModel built = DjlSourceModel.load(dir, DjlModelOptions.builder().calibrationTemperature(2.5).build())) {
            List<Integer> candidate = List.of(9, 10);
            double rawLp = raw.score(raw.open(prompt), List.of(candidate)).get(0).totalLogProb();
            assertEquals(rawLp, one.score(one.open(prompt), List.of(candidate)).get(0).totalLogProb(), 1e-6);
            double hotLp = hot.score(hot.open(prompt), List.of(candidate)).get(0).totalLogProb();
            assertTrue(Math.abs(hotLp - rawLp) > 1e-3, "T = 2.5 must change the scores: " + hotLp + " vs " + rawLp);
            assertEquals(built.score(built.open(prompt), List.of(candidate)).get(0).totalLogProb(), hotLp, 1e-6,
                    "the option '2.5' is the temperature 2.5");
        }
    }

    @Test
    void badTemperaturesAreRefusedWithTheFix() {
        for (double bad : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            String message = assertThrows(FusionException.class,
                    () -> DjlModelOptions.builder().calibrationTemperature(bad)).getMessage();
            assertTrue(message.contains("calibration temperature") && message.contains("> 0"), message);
        }
        DjlSourceModelProvider provider = new DjlSourceModelProvider();
        String notANumber = assertThrows(FusionException.class, () -> provider.create(ProviderConfig.of("djl",
                Map.of("path", dir.toString(), "calibration-temperature", "warm")))).getMessage();
        assertTrue(notANumber.contains("calibration-temperature") && notANumber.contains("number")
                && notANumber.contains("warm"), notANumber);
        String zero = assertThrows(FusionException.class, () -> provider.create(ProviderConfig.of("djl",
                Map.of("path", dir.toString(), "calibration-temperature", "0")))).getMessage();
        assertTrue(zero.contains("djl") && zero.contains("calibration temperature"), zero);
    }
}
