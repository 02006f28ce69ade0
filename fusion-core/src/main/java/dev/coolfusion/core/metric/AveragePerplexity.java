package dev.coolfusion.core.metric;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import java.util.List;

/**
 * The paper's Eq. 3: the mean over models of each model's perplexity of the candidate in its own tokenization,
 * {@code PPL_v(s) = exp(mean negative log-likelihood per token)}. Models that produced no tokens for a candidate
 * (for example an end-of-sequence-only candidate for a model without an end-of-sequence id) are left out of its mean.
 */
public final class AveragePerplexity implements RerankMetric {
    public static final String NAME = "avg-ppl";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public double[] score(List<CandidateEvidence> candidates) {
        double[] out = new double[candidates.size()];
        for (int i = 0; i < out.length; i++) {
            double sum = 0;
            int n = 0;
            for (ModelLogProbs model : candidates.get(i).byModel()) {
                if (!model.logProbs().isEmpty()) {
                    sum += perplexity(model);
                    n++;
                }
            }
            out[i] = n == 0 ? Double.POSITIVE_INFINITY : sum / n;
        }
        return out;
    }

    /** exp of the mean negative log-likelihood per token; NaN without tokens. */
    public static double perplexity(ModelLogProbs model) {
        return Math.exp(model.meanNll());
    }
}
