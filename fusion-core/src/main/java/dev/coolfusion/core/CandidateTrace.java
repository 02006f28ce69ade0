package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.ModelLogProbs;
import java.util.List;
import java.util.Map;

/**
 * One candidate segment of a fused step.
 *
 * @param text          the segment text
 * @param endOfSequence whether it ends the generation
 * @param proposers     names of the sources that proposed it (several when they agreed)
 * @param logProbs      every source's per-token log-probs for it, in its own tokenization, in source order
 * @param perplexity    every source's perplexity of it, by source name, in source order (NaN without tokens)
 * @param score         the rerank metric's score; lower wins
 */
public record CandidateTrace(
        String text,
        boolean endOfSequence,
        List<String> proposers,
        List<ModelLogProbs> logProbs,
        Map<String, Double> perplexity,
        double score) {
    public CandidateTrace {
        requireNonNull(text, "text is null");
        proposers = List.copyOf(requireNonNull(proposers, "proposers is null"));
        logProbs = List.copyOf(requireNonNull(logProbs, "logProbs is null"));
        perplexity = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(requireNonNull(perplexity, "perplexity is null")));
    }
}
