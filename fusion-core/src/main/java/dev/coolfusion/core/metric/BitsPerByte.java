package dev.coolfusion.core.metric;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import java.nio.charset.StandardCharsets;

/**
 * Mean over models of the candidate's negative log-likelihood in bits per UTF-8 byte of its text. Unlike
 * perplexity it does not depend on how finely a tokenizer splits the text, so models with coarse and fine
 * vocabularies weigh the same. An end-of-sequence marker counts as one extra byte. Its {@link #modelScores} are each
 * model's bits per byte (NaN for a model without tokens).
 */
public final class BitsPerByte extends MeanOverModels {
    public static final String NAME = "bits-per-byte";
    private static final double LN2 = Math.log(2);

    @Override
    public String name() {
        return NAME;
    }

    @Override
    double value(CandidateEvidence candidate, ModelLogProbs model) {
        int bytes = candidate.text().getBytes(StandardCharsets.UTF_8).length + (candidate.endOfSequence() ? 1 : 0);
        return bytes == 0 ? Double.POSITIVE_INFINITY : model.totalNll() / LN2 / bytes;
    }
}
