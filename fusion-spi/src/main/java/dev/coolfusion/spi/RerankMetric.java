package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Ranks candidate segments from every model's log-probabilities. Lower scores are better.
 *
 * <p>Only {@link #name()} and {@link #score} must be implemented. The fusion calls {@link #rank} once per step, which
 * by default scores once, picks the winner with {@link #best} and asks {@link #modelScores} for each candidate's
 * per-model values (none by default). A metric whose score is built from per-model values (such as a mean over
 * models) overrides {@link #modelScores}, and may override {@link #rank} to compute them only once; one that picks
 * its winner by another rule than the lowest score overrides {@link #rank}.
 *
 * <p>Each candidate's {@link CandidateEvidence#byModel()} holds the sources that scored it, and only those: a
 * proposer-only source ({@link SourceModel#canScore()} false) and a source the fusion dropped after a failure are not
 * in it, so a mean over models is a mean over the scoring sources. The list may thus be shorter than the fusion's
 * sources, and differ between steps (never between the candidates of one step).
 *
 * <p>Implementations must be stateless and thread-safe.
 */
public interface RerankMetric {

    /** The name users select the metric by, e.g. {@code avg-ppl}. */
    String name();

    /** One score per candidate, in order; lower is better. A candidate no model could score gets +infinity. */
    double[] score(List<CandidateEvidence> candidates);

    /**
     * The value each model gives {@code candidate} under this metric, by model name in the candidate's model order
     * (NaN for a model that has no log-probs for it), e.g. each model's perplexity for {@code avg-ppl}. Empty, the
     * default, when the metric has no per-model decomposition.
     */
    default Map<String, Double> modelScores(CandidateEvidence candidate) {
        return Map.of();
    }

    /** Scores {@code candidates} once and picks the winner: what a caller that needs the scores too calls. */
    default Ranking rank(List<CandidateEvidence> candidates) {
        requireNonEmpty(candidates);
        double[] scores = score(candidates);
        if (scores == null || scores.length != candidates.size()) {
            throw new IllegalStateException("metric '" + name() + "' gave " + (scores == null ? "no" : scores.length)
                    + " scores for " + candidates.size() + " candidates");
        }
        List<Map<String, Double>> byCandidate = new ArrayList<>(candidates.size());
        for (CandidateEvidence candidate : candidates) {
            byCandidate.add(modelScores(candidate));
        }
        return new Ranking(scores, best(scores), byCandidate);
    }

    /** The index of the best candidate: the lowest score, the earliest on ties ({@link #best}). */
    default int select(List<CandidateEvidence> candidates) {
        requireNonEmpty(candidates);
        return best(score(candidates));
    }

    /** The index of the lowest score, the earliest on ties; NaN loses to any number (and the first NaN wins if all are). */
    static int best(double[] scores) {
        requireNonNull(scores, "scores is null");
        if (scores.length == 0) {
            throw new IllegalArgumentException("no scores to select from");
        }
        int best = 0;
        for (int i = 1; i < scores.length; i++) {
            if (scores[i] < scores[best] || (Double.isNaN(scores[best]) && !Double.isNaN(scores[i]))) {
                best = i;
            }
        }
        return best;
    }

    private static void requireNonEmpty(List<CandidateEvidence> candidates) {
        if (requireNonNull(candidates, "candidates is null").isEmpty()) {
            throw new IllegalArgumentException("no candidates to select from");
        }
    }

    /**
     * What {@link #rank} found, for candidates in order.
     *
     * @param scores      one score per candidate; lower is better
     * @param winner      the index of the winning candidate
     * @param modelScores each candidate's {@link #modelScores} (empty maps for a metric without them)
     */
    record Ranking(double[] scores, int winner, List<Map<String, Double>> modelScores) {
        public Ranking {
            scores = requireNonNull(scores, "scores is null").clone();
            List<Map<String, Double>> copy = new ArrayList<>(requireNonNull(modelScores, "modelScores is null").size());
            for (Map<String, Double> m : modelScores) {
                copy.add(Collections.unmodifiableMap(new LinkedHashMap<>(requireNonNull(m, "a candidate's modelScores is null"))));
            }
            modelScores = List.copyOf(copy);
            if (scores.length != modelScores.size()) {
                throw new IllegalArgumentException(scores.length + " scores but modelScores for " + modelScores.size()
                        + " candidates");
            }
            if (winner < 0 || winner >= scores.length) {
                throw new IllegalArgumentException("winner " + winner + " out of range for " + scores.length + " candidates");
            }
        }

        /** A copy of the scores. */
        @Override
        public double[] scores() {
            return scores.clone();
        }

        /** The score of candidate {@code i}. */
        public double score(int i) {
            return scores[i];
        }

        /** The number of candidates. */
        public int size() {
            return scores.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Ranking r && winner == r.winner && Arrays.equals(scores, r.scores)
                    && modelScores.equals(r.modelScores);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * Arrays.hashCode(scores) + winner) + modelScores.hashCode();
        }

        @Override
        public String toString() {
            return "Ranking[scores=" + Arrays.toString(scores) + ", winner=" + winner + ", modelScores=" + modelScores + "]";
        }
    }
}
