package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * One scored candidate of {@link SourceModel#score} (Table 1, M3).
 *
 * @param logProbs the natural-log probability of each candidate token given the state and the tokens before it
 * @param state    a new temporary state: the input state followed by all candidate tokens
 */
public record ScoredTokens(List<Double> logProbs, StateHandle state) {
    public ScoredTokens {
        logProbs = List.copyOf(requireNonNull(logProbs, "logProbs is null"));
        requireNonNull(state, "state is null");
    }

    /** Sum of the log-probabilities (minus the negative log-likelihood). */
    public double totalLogProb() {
        double sum = 0;
        for (double lp : logProbs) {
            sum += lp;
        }
        return sum;
    }
}
