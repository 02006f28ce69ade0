package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * What T1 ({@link SourceModel#nextText}, Table 1's {@code next_text}) needs to propose one segment: generate from
 * {@code from} until the decoded text has a non-empty prefix that ends at a word boundary of every tokenizer in
 * {@code codecs} (or of the proposer's own, for {@link Alignment#OWN}), the last word of each split left out.
 *
 * @param from             the committed state to continue
 * @param ahead            tokens generated past the last segment this source won, with their log-probs and states;
 *                         they are checked first, exactly as if generated now, without a forward pass
 * @param room             how many tokens still fit after {@code from} (the look-ahead included); T1 never goes past it
 * @param codecs           the tokenizer of every source of the fusion, in source order
 * @param self             which of {@code codecs} is the proposer's own
 * @param choice           which common boundary ends the segment
 * @param alignment        whose boundaries count
 * @param maxSegmentTokens tokens after which the fallback applies: the longest prefix ending at the proposer's own
 *                         word boundary, else all text decoded so far
 * @param sampling         how tokens are drawn
 */
public record SegmentRequest(
        StateHandle from,
        List<TokenStep> ahead,
        int room,
        List<TextCodec> codecs,
        int self,
        SegmentChoice choice,
        Alignment alignment,
        int maxSegmentTokens,
        Sampling sampling) {

    public SegmentRequest {
        requireNonNull(from, "from is null");
        requireNonNull(ahead, "ahead is null");
        requireNonNull(codecs, "codecs is null");
        requireNonNull(choice, "choice is null");
        requireNonNull(alignment, "alignment is null");
        requireNonNull(sampling, "sampling is null");
        ahead = List.copyOf(ahead);
        codecs = List.copyOf(codecs);
        if (codecs.isEmpty()) {
            throw new IllegalArgumentException("at least one tokenizer is needed to align segments");
        }
        if (self < 0 || self >= codecs.size()) {
            throw new IllegalArgumentException("self must index codecs (0.." + (codecs.size() - 1) + "), got " + self);
        }
        if (room < 0) {
            throw new IllegalArgumentException("room must be >= 0, got " + room);
        }
        if (maxSegmentTokens < 1) {
            throw new IllegalArgumentException("maxSegmentTokens must be at least 1, got " + maxSegmentTokens);
        }
    }

    /** The proposer's own tokenizer. */
    public TextCodec ownCodec() {
        return codecs.get(self);
    }
}
