package dev.coolfusion.segment;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.Alignment;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.TreeSet;

/**
 * T1, aligned segment generation (Section 2.2): one source generates tokens until the text they decode to has a
 * non-empty prefix ending at a word boundary that every tokenizer shares.
 *
 * <ul>
 *   <li>Text that does not decode yet (a byte token that splits a character, shown as U+FFFD) is cut before the
 *       first U+FFFD; a boundary must lie in the part that decodes.
 *   <li>End-of-sequence before a common boundary: everything decoded so far is the segment, marked as ending.
 *   <li>After {@code maxSegmentTokens} tokens without a common boundary the fallback is the longest prefix ending
 *       at the proposer's own word boundary, else all text decoded so far.
 *   <li>When the source's context has no room for another token, the same fallback applies at once, except that text
 *       that does not decode yet is left out (the proposal may then be empty): the source never goes past its
 *       {@link SourceModel#maxContextTokens()}.
 * </ul>
 * Tokens that a previous winning proposal generated past its segment ({@link SegmentRequest#ahead()}) are replayed
 * first, without a forward pass. The same code runs in the fusion loop and on a worker, so both give the same
 * segment.
 */
public final class SegmentGenerator {
    private static final char REPLACEMENT = '\uFFFD';

    /** Where T1 gets its next token: a model's {@link SourceModel#nextToken}, or a server's chunk of tokens. */
    @FunctionalInterface
    public interface NextToken {
        TokenStep next(StateHandle from, Decoding decoding);
    }

    private SegmentGenerator() {}

    /** T1 for {@code model}: its own {@link SourceModel#nextText} if it runs T1 itself, else {@link #generate} here. */
    public static ProposedSegment propose(SourceModel model, SegmentRequest request) {
        requireNonNull(model, "model is null");
        requireNonNull(request, "request is null");
        return model.nextText(request).orElseGet(() -> generate(model.name(), request, model::nextToken));
    }

    /** Generates one segment for the source named {@code source}, drawing tokens from {@code next}. */
    public static ProposedSegment generate(String source, SegmentRequest request, NextToken next) {
        requireNonNull(source, "source is null");
        requireNonNull(request, "request is null");
        requireNonNull(next, "next is null");
        return new Run(source, request).generate(next);
    }

    /** One T1 call: the tokens so far and the aligner that decides. */
    private static final class Run {
        private final String source;
        private final SegmentRequest request;
        private final TextCodec own;
        private final SegmentAligner aligner;
        private final List<TokenStep> steps;

        Run(String source, SegmentRequest request) {
            this.source = source;
            this.request = request;
            this.own = request.ownCodec();
            this.aligner = new SegmentAligner(request.alignment() == Alignment.OWN ? List.of(own) : request.codecs());
            this.steps = new ArrayList<>(request.ahead());
        }

        ProposedSegment generate(NextToken next) {
            // Replayed look-ahead is checked token by token, exactly as if it were generated now.
            int checked = 0;
            while (true) {
                while (checked < steps.size()) {
                    checked++;
                    ProposedSegment done = check(checked);
                    if (done != null) {
                        return done;
                    }
                }
                if (steps.size() >= request.room()) {
                    return atContextEnd();
                }
                StateHandle from = steps.isEmpty() ? request.from() : steps.get(steps.size() - 1).state();
                steps.add(next.next(from, request.sampling().decoding(steps.size())));
            }
        }

        /** A proposal if the first {@code n} tokens complete a segment, else null. */
        private ProposedSegment check(int n) {
            List<Integer> prefix = tokens(n);
            int last = prefix.get(n - 1);
            if (own.endOfSequenceIds().contains(last)) {
                String text = own.decodeContinuation(prefix.subList(0, n - 1));
                return proposal(text, true, n, n, false);
            }
            String decoded = own.decodeContinuation(prefix);
            String usable = SegmentAligner.decodablePrefix(decoded);
            OptionalInt end = aligner.segmentEnd(usable, request.choice());
            if (end.isPresent()) {
                return proposal(usable.substring(0, end.getAsInt()), false, n, -1, false);
            }
            if (n < request.maxSegmentTokens()) {
                return null;
            }
            String text = ownBoundaryPrefix(usable);
            if (text.isEmpty()) {
                text = decoded;
            }
            if (text.isEmpty()) {
                if (n >= 4 * request.maxSegmentTokens()) {
                    throw new FusionException("source '" + source + "' generated " + n
                            + " tokens that decode to no text; check its tokenizer and end-of-sequence ids");
                }
                return null; // nothing decodes yet; keep generating
            }
            return proposal(text, false, n, -1, false);
        }

        /** The proposal of a source whose context is full: the fallback, without undecodable text. */
        private ProposedSegment atContextEnd() {
            int n = steps.size();
            String usable = n == 0 ? "" : SegmentAligner.decodablePrefix(own.decodeContinuation(tokens(n)));
            return proposal(ownBoundaryPrefix(usable), false, n, -1, true);
        }

        /** The longest prefix of {@code usable} ending at the source's own word boundary, else all of it. */
        private String ownBoundaryPrefix(String usable) {
            TreeSet<Integer> boundaries = SegmentAligner.boundaries(own.encodeContinuation(usable));
            boundaries.remove(0);
            return !boundaries.isEmpty() ? usable.substring(0, boundaries.last()) : usable;
        }

        private ProposedSegment proposal(String text, boolean eos, int n, int segmentTokens, boolean contextFull) {
            List<TokenStep> used = List.copyOf(steps.subList(0, n));
            if (segmentTokens < 0) {
                segmentTokens = tokensDecodingTo(tokens(n), text);
            }
            return new ProposedSegment(text, eos, used, segmentTokens, contextFull);
        }

        /** The smallest k such that the first k tokens decode exactly to {@code text}, or -1. */
        private int tokensDecodingTo(List<Integer> tokens, String text) {
            for (int k = 1; k <= tokens.size(); k++) {
                String decoded = own.decodeContinuation(tokens.subList(0, k));
                if (decoded.equals(text)) {
                    return k;
                }
                if (decoded.length() > text.length() && decoded.indexOf(REPLACEMENT) < 0) {
                    return -1;
                }
            }
            return -1;
        }

        private List<Integer> tokens(int n) {
            List<Integer> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(steps.get(i).token());
            }
            return out;
        }
    }
}
