package dev.coolfusion.core.metric;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MetricsTest {
    private static final double HALF = Math.log(0.5);
    private static final double QUARTER = Math.log(0.25);

    private static CandidateEvidence candidate(String text, boolean eos, List<Double> a, List<Double> b) {
        return new CandidateEvidence(text, eos, List.of(new ModelLogProbs("a", a), new ModelLogProbs("b", b)));
    }

    @Test
    void averagePerplexityIsTheMeanOfPerModelPerplexities() {
        // a: PPL 2 (every token p = 1/2); b: PPL 4 (p = 1/4) -> mean 3.
        double[] s = new AveragePerplexity().score(List.of(candidate(" ab", false, List.of(HALF, HALF), List.of(QUARTER))));
        assertEquals(3.0, s[0], 1e-12);
    }

    @Test
    void perplexityNormalisesByEachModelsOwnTokenCount() {
        // Same total likelihood 1/16 spread over 4 tokens (a) or 2 tokens (b): PPL 2 vs 4.
        CandidateEvidence c = candidate("x", false, List.of(HALF, HALF, HALF, HALF), List.of(QUARTER, QUARTER));
        assertEquals(3.0, new AveragePerplexity().score(List.of(c))[0], 1e-12);
        // Bits per byte sees the same 4 bits for both models over one byte.
        assertEquals(4.0, new BitsPerByte().score(List.of(c))[0], 1e-12);
    }

    @Test
    void modelsWithoutTokensAreLeftOutAndNoTokensAtAllLoses() {
        CandidateEvidence onlyA = candidate("", true, List.of(HALF), List.of());
        CandidateEvidence none = candidate("", true, List.of(), List.of());
        double[] s = new AveragePerplexity().score(List.of(onlyA, none));
        assertEquals(2.0, s[0], 1e-12);
        assertEquals(Double.POSITIVE_INFINITY, s[1]);
        assertEquals(0, new AveragePerplexity().select(List.of(onlyA, none)));
        // The end-of-sequence marker counts as one byte.
        assertEquals(1.0, new BitsPerByte().score(List.of(onlyA))[0], 1e-12);
    }

    private static void assertClose(Map<String, Double> expected, Map<String, Double> actual) {
        assertEquals(List.of("a", "b"), List.copyOf(actual.keySet()));
        expected.forEach((model, v) -> assertEquals(v, actual.get(model), 1e-12, model));
    }

    @Test
    void rankGivesEachModelsValueOnceAndTheScoreIsTheirMean() {
        CandidateEvidence c = candidate("x", false, List.of(HALF, HALF, HALF, HALF), List.of(QUARTER, QUARTER));
        CandidateEvidence onlyA = candidate("", true, List.of(HALF), List.of());
        RerankMetric.Ranking ppl = new AveragePerplexity().rank(List.of(c, onlyA));
        assertArrayEquals(new AveragePerplexity().score(List.of(c, onlyA)), ppl.scores());
        assertClose(Map.of("a", 2.0, "b", 4.0), ppl.modelScores().get(0)); // each model's perplexity
        assertEquals(List.of("a", "b"), List.copyOf(ppl.modelScores().get(1).keySet()), "in model order");
        assertEquals(2.0, ppl.modelScores().get(1).get("a"), 1e-12);
        assertTrue(Double.isNaN(ppl.modelScores().get(1).get("b")), "NaN for a model without tokens");
        assertEquals(1, ppl.winner());
        assertEquals(ppl.modelScores().get(0), new AveragePerplexity().modelScores(c));

        RerankMetric.Ranking bpb = new BitsPerByte().rank(List.of(c, onlyA));
        assertArrayEquals(new BitsPerByte().score(List.of(c, onlyA)), bpb.scores());
        assertClose(Map.of("a", 4.0, "b", 4.0), bpb.modelScores().get(0)); // each model's bits per byte
        assertEquals(1.0, bpb.modelScores().get(1).get("a"), 1e-12);
        assertTrue(Double.isNaN(bpb.modelScores().get(1).get("b")));
        assertEquals(4.0, bpb.score(0), 1e-12);
        assertEquals(1, bpb.winner());
        assertEquals(bpb.modelScores().get(1).keySet(), new BitsPerByte().modelScores(onlyA).keySet());
    }

    @Test
    void selectPicksTheLowestScoreAndTheEarliestOnTies() {
        CandidateEvidence worse = candidate("w", false, List.of(QUARTER), List.of(QUARTER));
        CandidateEvidence better = candidate("b", false, List.of(HALF), List.of(HALF));
        CandidateEvidence tie = candidate("t", false, List.of(HALF), List.of(HALF));
        assertEquals(1, new AveragePerplexity().select(List.of(worse, better, tie)));
        assertEquals(1, new AveragePerplexity().rank(List.of(worse, better, tie)).winner());
        assertEquals(1, new BitsPerByte().rank(List.of(worse, better, tie)).winner());
        assertThrows(IllegalArgumentException.class, () -> new AveragePerplexity().rank(List.of()));
    }
}
