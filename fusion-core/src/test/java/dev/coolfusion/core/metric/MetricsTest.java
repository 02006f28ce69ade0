package dev.coolfusion.core.metric;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import java.util.List;
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

    @Test
    void selectPicksTheLowestScoreAndTheEarliestOnTies() {
        CandidateEvidence worse = candidate("w", false, List.of(QUARTER), List.of(QUARTER));
        CandidateEvidence better = candidate("b", false, List.of(HALF), List.of(HALF));
        CandidateEvidence tie = candidate("t", false, List.of(HALF), List.of(HALF));
        assertEquals(1, new AveragePerplexity().select(List.of(worse, better, tie)));
    }
}
