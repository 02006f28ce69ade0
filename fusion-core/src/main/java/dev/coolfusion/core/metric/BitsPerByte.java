package dev.coolfusion.core.metric;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Mean over models of the candidate's negative log-likelihood in bits per UTF-8 byte of its text. Unlike
 * perplexity it does not depend on how finely a tokenizer splits the text, so models with coarse and fine
 * vocabularies weigh the same. An end-of-sequence marker counts as one extra byte.
 */
public final class BitsPerByte implements RerankMetric {
    public static final String NAME = "bits-per-byte";
    private static final double LN2 = Math.log(2);

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public double[] score(List<CandidateEvidence> candidates) {
        double[] out = new double[candidates.size()];
        for (int i = 0; i < out.length; i++) {
            CandidateEvidence candidate = candidates.get(i);
            int bytes = candidate.text().getBytes(StandardCharsets.UTF_8).length + (candidate.endOfSequence() ? 1 : 0);
            double sum = 0;
            int n = 0;
            for (ModelLogProbs model : candidate.byModel()) {
                if (!model.logProbs().isEmpty() && bytes > 0) {
                    sum += model.totalNll() / LN2 / bytes;
                    n++;
                }
            }
            out[i] = n == 0 ? Double.POSITIVE_INFINITY : sum / n;
        }
        return out;
    }
}
