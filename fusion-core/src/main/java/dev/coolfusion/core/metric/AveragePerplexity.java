package dev.coolfusion.core.metric;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;

/**
 * The paper's Eq. 3: the mean over models of each model's perplexity of the candidate in its own tokenization,
 * {@code PPL_v(s) = exp(mean negative log-likelihood per token)}. Models that produced no tokens for a candidate
 * (for example an end-of-sequence-only candidate for a model without an end-of-sequence id) are left out of its mean.
 * Its {@link #modelScores} are each model's perplexity (NaN for a model without tokens).
 */
public final class AveragePerplexity extends MeanOverModels {
    public static final String NAME = "avg-ppl";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    double value(CandidateEvidence candidate, ModelLogProbs model) {
        return perplexity(model);
    }

    /** exp of the mean negative log-likelihood per token; NaN without tokens. */
    public static double perplexity(ModelLogProbs model) {
        return Math.exp(model.meanNll());
    }
}
