package dev.coolfusion.spi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The defaults a metric that implements only {@code name()} and {@code score()} gets. */
class RerankMetricTest {

    /** A third-party metric written against the first SPI: the candidate's score is its text's length. */
    static final class ByLength implements RerankMetric {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public String name() {
            return "by-length";
        }

        @Override
        public double[] score(List<CandidateEvidence> candidates) {
            calls.incrementAndGet();
            return candidates.stream().mapToDouble(c -> c.text().length()).toArray();
        }
    }

    private static CandidateEvidence candidate(String text) {
        return new CandidateEvidence(text, false, List.of(new ModelLogProbs("a", List.of(-1.0)),
                new ModelLogProbs("b", List.of(-2.0, -3.0))));
    }

    @Test
    void rankScoresOnceAndPicksTheLowestScoreWithoutPerModelValues() {
        ByLength metric = new ByLength();
        List<CandidateEvidence> candidates = List.of(candidate("three"), candidate("to"), candidate("xy"));
        RerankMetric.Ranking r = metric.rank(candidates);
        assertEquals(1, metric.calls.get(), "scored once");
        assertArrayEquals(new double[] {5, 2, 2}, r.scores());
        assertEquals(1, r.winner(), "lowest, earliest on ties");
        assertEquals(3, r.size());
        assertEquals(2.0, r.score(2));
        assertEquals(List.of(Map.of(), Map.of(), Map.of()), r.modelScores());
        assertEquals(Map.of(), metric.modelScores(candidates.get(0)));
        assertEquals(1, metric.select(candidates), "select agrees with rank");
    }

    @Test
    void bestIsTheLowestTheEarliestOnTiesAndNanLoses() {
        assertEquals(0, RerankMetric.best(new double[] {1}));
        assertEquals(1, RerankMetric.best(new double[] {3, 1, 2, 1}));
        assertEquals(2, RerankMetric.best(new double[] {Double.NaN, Double.NaN, 7, Double.NaN, 8}));
        assertEquals(0, RerankMetric.best(new double[] {Double.POSITIVE_INFINITY, Double.NaN}));
        assertEquals(0, RerankMetric.best(new double[] {Double.NaN, Double.NaN}), "all NaN: the first");
        assertEquals(1, RerankMetric.best(new double[] {Double.POSITIVE_INFINITY, 1e300}));
        assertThrows(IllegalArgumentException.class, () -> RerankMetric.best(new double[0]));
    }

    @Test
    void noCandidatesOrAWrongNumberOfScoresAreClearErrors() {
        ByLength metric = new ByLength();
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> metric.rank(List.of()));
        assertTrue(none.getMessage().contains("no candidates"), none.getMessage());
        assertThrows(IllegalArgumentException.class, () -> metric.select(List.of()));
        RerankMetric broken = new RerankMetric() {
            @Override
            public String name() {
                return "broken";
            }

            @Override
            public double[] score(List<CandidateEvidence> candidates) {
                return new double[] {1};
            }
        };
        IllegalStateException wrong = assertThrows(IllegalStateException.class,
                () -> broken.rank(List.of(candidate("a"), candidate("b"))));
        assertTrue(wrong.getMessage().contains("'broken' gave 1 scores for 2 candidates"), wrong.getMessage());
    }

    @Test
    void aRankingIsImmutableAndChecked() {
        double[] scores = {2, 1};
        RerankMetric.Ranking r = new RerankMetric.Ranking(scores, 1, List.of(Map.of("a", 2.0), Map.of("a", 1.0)));
        scores[0] = 0;
        assertEquals(2.0, r.score(0), "copied in");
        r.scores()[0] = 0;
        assertEquals(2.0, r.score(0), "copied out");
        assertEquals(r, new RerankMetric.Ranking(new double[] {2, 1}, 1, List.of(Map.of("a", 2.0), Map.of("a", 1.0))));
        assertThrows(UnsupportedOperationException.class, () -> r.modelScores().get(0).put("b", 3.0));
        assertThrows(IllegalArgumentException.class, () -> new RerankMetric.Ranking(new double[] {1}, 1, List.of(Map.of())));
        assertThrows(IllegalArgumentException.class, () -> new RerankMetric.Ranking(new double[] {1}, 0, List.of()));
    }
}
