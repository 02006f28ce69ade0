package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;

/** How one scoring model rated one candidate: the log-probability of each of its tokens, in its own tokenization. */
public record ModelLogProbs(String model, List<Double> logProbs) {
    public ModelLogProbs {
        requireNonNull(model, "model is null");
        logProbs = List.copyOf(requireNonNull(logProbs, "logProbs is null"));
    }

    /** Negative log-likelihood per token; NaN when there are no tokens. */
    public double meanNll() {
        if (logProbs.isEmpty()) {
            return Double.NaN;
        }
        double sum = 0;
        for (double lp : logProbs) {
            sum -= lp;
        }
        return sum / logProbs.size();
    }

    /** Total negative log-likelihood in nats. */
    public double totalNll() {
        double sum = 0;
        for (double lp : logProbs) {
            sum -= lp;
        }
        return sum;
    }
}
