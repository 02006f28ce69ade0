package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * What T1 proposed for one source in one step ({@link SourceModel#nextText}).
 *
 * @param text          the proposed segment
 * @param endOfSequence whether the source ended the sequence (the segment is then everything before end-of-sequence)
 * @param steps         every token generated in this step, replayed look-ahead first, with its log-prob and the
 *                      temporary state after it; the caller releases these states
 * @param segmentTokens how many leading tokens decode exactly to the segment (end-of-sequence included), or -1
 * @param contextFull   whether the source stopped because its context had no room for another token (the text is
 *                      then the fallback, possibly empty)
 */
public record ProposedSegment(
        String text, boolean endOfSequence, List<TokenStep> steps, int segmentTokens, boolean contextFull) {

    public ProposedSegment {
        requireNonNull(text, "text is null");
        requireNonNull(steps, "steps is null");
        steps = List.copyOf(steps);
        if (segmentTokens < -1 || segmentTokens > steps.size()) {
            throw new IllegalArgumentException("segmentTokens must be -1 or in 0.." + steps.size() + ", got "
                    + segmentTokens);
        }
    }

    /** The generated token ids, in order. */
    public List<Integer> tokens() {
        return steps.stream().map(TokenStep::token).toList();
    }
}
