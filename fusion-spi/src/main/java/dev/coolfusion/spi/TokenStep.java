package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

/**
 * The result of one {@link SourceModel#nextToken} call (Table 1, M2).
 *
 * @param token   the chosen token id
 * @param logProb its natural-log probability under the model's own distribution (temperature 1, no top-p),
 *                so that it is comparable with {@link SourceModel#score} results
 * @param state   a new temporary state: the input state followed by {@code token}
 */
public record TokenStep(int token, double logProb, StateHandle state) {
    public TokenStep {
        requireNonNull(state, "state is null");
    }
}
