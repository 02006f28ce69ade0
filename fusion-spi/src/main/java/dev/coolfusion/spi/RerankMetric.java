package dev.coolfusion.spi;

import java.util.List;

/**
 * Ranks candidate segments from every model's log-probabilities. Lower scores are better.
 *
 * <p>Implementations must be stateless and thread-safe.
 */
public interface RerankMetric {

    /** The name users select the metric by, e.g. {@code avg-ppl}. */
    String name();

    /** One score per candidate, in order; lower is better. A candidate no model could score gets +infinity. */
    double[] score(List<CandidateEvidence> candidates);

    /** The index of the best candidate: the lowest score, the earliest on ties. */
    default int select(List<CandidateEvidence> candidates) {
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("no candidates to select from");
        }
        double[] scores = score(candidates);
        int best = 0;
        for (int i = 1; i < scores.length; i++) {
            if (scores[i] < scores[best] || (Double.isNaN(scores[best]) && !Double.isNaN(scores[i]))) {
                best = i;
            }
        }
        return best;
    }
}
