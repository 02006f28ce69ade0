package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * Everything a {@link RerankMetric} knows about one candidate segment.
 *
 * @param text          the candidate text
 * @param endOfSequence whether the candidate ends the generation; each model's log-probs then include its own
 *                      end-of-sequence token
 * @param byModel       one entry per scoring model, in the fusion's source order
 */
public record CandidateEvidence(String text, boolean endOfSequence, List<ModelLogProbs> byModel) {
    public CandidateEvidence {
        requireNonNull(text, "text is null");
        byModel = List.copyOf(requireNonNull(byModel, "byModel is null"));
    }
}
