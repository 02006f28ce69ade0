package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.ModelLogProbs;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One candidate segment of a fused step.
 *
 * @param text          the segment text
 * @param endOfSequence whether it ends the generation
 * @param proposers     names of the sources that proposed it (several when they agreed)
 * @param logProbs      every scoring source's per-token log-probs for it, in its own tokenization, in source order
 *                      (a proposer-only source, {@link dev.coolfusion.spi.SourceModel#canScore()} false, and a
 *                      dropped one are not among them; {@link #scorers()} names them)
 * @param modelScores   every source's value of it under the fusion's rerank metric ({@link
 *                      dev.coolfusion.spi.RerankMetric#modelScores}), by source name, in source order (NaN without
 *                      tokens): each source's perplexity for {@code avg-ppl}, its bits per byte for {@code
 *                      bits-per-byte}; empty for a metric without per-model values
 * @param score         the rerank metric's score; lower wins
 */
public record CandidateTrace(
        String text,
        boolean endOfSequence,
        List<String> proposers,
        List<ModelLogProbs> logProbs,
        Map<String, Double> modelScores,
        double score) {
    public CandidateTrace {
        requireNonNull(text, "text is null");
        proposers = List.copyOf(requireNonNull(proposers, "proposers is null"));
        logProbs = List.copyOf(requireNonNull(logProbs, "logProbs is null"));
        modelScores = Collections.unmodifiableMap(new LinkedHashMap<>(requireNonNull(modelScores, "modelScores is null")));
    }

    /** The sources that scored this candidate, in source order: the models of {@link #logProbs()}. */
    public List<String> scorers() {
        return logProbs.stream().map(ModelLogProbs::model).toList();
    }
}
