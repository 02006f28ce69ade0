package dev.coolfusion.core.metric;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Shared shape of the built-in metrics: a per-model value, averaged over the models that scored any token. The
 * per-model values are the metric's {@link #modelScores}; {@link #rank} computes them once per candidate and takes
 * the score from them.
 */
abstract class MeanOverModels implements RerankMetric {

    /** The value one model gives one candidate; only called when the model has at least one log-prob. */
    abstract double value(CandidateEvidence candidate, ModelLogProbs model);

    @Override
    public final double[] score(List<CandidateEvidence> candidates) {
        double[] out = new double[candidates.size()];
        for (int i = 0; i < out.length; i++) {
            CandidateEvidence candidate = candidates.get(i);
            out[i] = mean(candidate, values(candidate));
        }
        return out;
    }

    /** Each model's value by model name, in model order; NaN for a model without log-probs (left out of the mean). */
    @Override
    public final Map<String, Double> modelScores(CandidateEvidence candidate) {
        return byName(candidate, values(candidate));
    }

    @Override
    public final Ranking rank(List<CandidateEvidence> candidates) {
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("no candidates to select from");
        }
        double[] scores = new double[candidates.size()];
        List<Map<String, Double>> modelScores = new ArrayList<>(candidates.size());
        for (int i = 0; i < scores.length; i++) {
            CandidateEvidence candidate = candidates.get(i);
            double[] values = values(candidate);
            scores[i] = mean(candidate, values);
            modelScores.add(byName(candidate, values));
        }
        return new Ranking(scores, RerankMetric.best(scores), modelScores);
    }

    /** One value per model, in model order; NaN for a model without log-probs. */
    private double[] values(CandidateEvidence candidate) {
        List<ModelLogProbs> models = candidate.byModel();
        double[] out = new double[models.size()];
        for (int m = 0; m < out.length; m++) {
            ModelLogProbs model = models.get(m);
            out[m] = model.logProbs().isEmpty() ? Double.NaN : value(candidate, model);
        }
        return out;
    }

    /** The mean over the models with log-probs; +infinity when none has any. */
    private static double mean(CandidateEvidence candidate, double[] values) {
        double sum = 0;
        int n = 0;
        for (int m = 0; m < values.length; m++) {
            if (!candidate.byModel().get(m).logProbs().isEmpty()) {
                sum += values[m];
                n++;
            }
        }
        return n == 0 ? Double.POSITIVE_INFINITY : sum / n;
    }

    private static Map<String, Double> byName(CandidateEvidence candidate, double[] values) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (int m = 0; m < values.length; m++) {
            out.put(candidate.byModel().get(m).model(), values[m]);
        }
        return out;
    }
}
