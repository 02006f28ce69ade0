package dev.coolfusion.core.metric;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import java.util.List;

/** Shared shape of the built-in metrics: a per-model value, averaged over the models that scored any token. */
abstract class MeanOverModels implements dev.coolfusion.spi.RerankMetric {

    /** The value one model gives one candidate; only called when the model has at least one log-prob. */
    abstract double perModel(CandidateEvidence candidate, ModelLogProbs model);

    @Override
    public final double[] score(List<CandidateEvidence> candidates) {
        double[] out = new double[candidates.size()];
        for (int i = 0; i < out.length; i++) {
            CandidateEvidence candidate = candidates.get(i);
            double sum = 0;
            int n = 0;
            for (ModelLogProbs model : candidate.byModel()) {
                if (!model.logProbs().isEmpty()) {
                    sum += perModel(candidate, model);
                    n++;
                }
            }
            out[i] = n == 0 ? Double.POSITIVE_INFINITY : sum / n;
        }
        return out;
    }
}
