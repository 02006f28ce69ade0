package dev.coolfusion.core;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.SplittableRandom;
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
 *       {@link dev.coolfusion.spi.SourceModel#maxContextTokens()}.
 * </ul>
 * Tokens that a previous winning proposal generated past its segment are replayed first, without a forward pass.
 */
final class SegmentProposer {
    private static final char REPLACEMENT = '\uFFFD';

    private final SegmentAligner commonAligner;
    private final FusionOptions options;

    SegmentProposer(SegmentAligner commonAligner, FusionOptions options) {
        this.commonAligner = commonAligner;
        this.options = options;
    }

    Proposal propose(SourceSession session, int step) {
        List<Integer> tokens = new ArrayList<>(session.aheadTokens);
        List<Double> logProbs = new ArrayList<>(session.aheadLogProbs);
        List<StateHandle> states = new ArrayList<>(session.aheadStates);
        session.aheadTokens.clear();
        session.aheadLogProbs.clear();
        session.aheadStates.clear();
        session.stepStates.addAll(states);
        SegmentAligner aligner = options.alignment() == Alignment.OWN ? session.ownAligner : commonAligner;

        // Replayed lookahead is checked token by token, exactly as if it were generated now.
        int checked = 0;
        while (true) {
            while (checked < tokens.size()) {
                checked++;
                Proposal done = check(session, aligner, tokens.subList(0, checked), logProbs, states);
                if (done != null) {
                    return done;
                }
            }
            if (tokens.size() >= session.room()) {
                return atContextEnd(session, tokens, logProbs, states);
            }
            StateHandle from = states.isEmpty() ? session.committed : states.get(states.size() - 1);
            TokenStep next = session.model.nextToken(from, decoding(step, session.index, tokens.size()));
            session.stepStates.add(next.state());
            tokens.add(next.token());
            logProbs.add(next.logProb());
            states.add(next.state());
        }
    }

    /** Returns a proposal if {@code prefix} (the first tokens) completes a segment, else null. */
    private Proposal check(SourceSession session, SegmentAligner aligner, List<Integer> prefix,
            List<Double> logProbs, List<StateHandle> states) {
        int n = prefix.size();
        int last = prefix.get(n - 1);
        if (session.codec.endOfSequenceIds().contains(last)) {
            String text = session.codec.decodeContinuation(prefix.subList(0, n - 1));
            return proposal(session, text, true, prefix, logProbs, states, n);
        }
        String decoded = session.codec.decodeContinuation(prefix);
        String usable = SegmentAligner.decodablePrefix(decoded);
        OptionalInt end = aligner.segmentEnd(usable, options.segmentChoice());
        if (end.isPresent()) {
            return proposal(session, usable.substring(0, end.getAsInt()), false, prefix, logProbs, states, -1);
        }
        if (n < options.maxSegmentTokens()) {
            return null;
        }
        String text = ownBoundaryPrefix(session, usable);
        if (text.isEmpty()) {
            text = decoded;
        }
        if (text.isEmpty()) {
            if (n >= 4 * options.maxSegmentTokens()) {
                throw new FusionException("source '" + session.name() + "' generated " + n
                        + " tokens that decode to no text; check its tokenizer and end-of-sequence ids");
            }
            return null; // nothing decodes yet; keep generating
        }
        return proposal(session, text, false, prefix, logProbs, states, -1);
    }

    /** The proposal of a source whose context is full after {@code tokens}: the fallback, without undecodable text. */
    private static Proposal atContextEnd(SourceSession session, List<Integer> tokens, List<Double> logProbs,
            List<StateHandle> states) {
        String usable = tokens.isEmpty() ? "" : SegmentAligner.decodablePrefix(session.codec.decodeContinuation(tokens));
        String text = ownBoundaryPrefix(session, usable);
        return proposal(session, text, false, tokens, logProbs, states, -1, true);
    }

    /** The longest prefix of {@code usable} ending at the source's own word boundary, else all of it. */
    private static String ownBoundaryPrefix(SourceSession session, String usable) {
        TreeSet<Integer> own = SegmentAligner.boundaries(session.codec.encodeContinuation(usable));
        own.remove(0);
        return !own.isEmpty() ? usable.substring(0, own.last()) : usable;
    }

    private static Proposal proposal(SourceSession session, String text, boolean eos, List<Integer> prefix,
            List<Double> allLogProbs, List<StateHandle> allStates, int segmentTokens) {
        return proposal(session, text, eos, prefix, allLogProbs, allStates, segmentTokens, false);
    }

    private static Proposal proposal(SourceSession session, String text, boolean eos, List<Integer> prefix,
            List<Double> allLogProbs, List<StateHandle> allStates, int segmentTokens, boolean contextFull) {
        int n = prefix.size();
        List<Integer> tokens = List.copyOf(prefix);
        List<Double> logProbs = List.copyOf(allLogProbs.subList(0, n));
        List<StateHandle> states = List.copyOf(allStates.subList(0, n));
        if (segmentTokens < 0) {
            segmentTokens = tokensDecodingTo(session, tokens, text);
        }
        return new Proposal(session.index, text, eos, tokens, logProbs, states, segmentTokens, contextFull);
    }

    /** The smallest k such that the first k tokens decode exactly to {@code text}, or -1. */
    private static int tokensDecodingTo(SourceSession session, List<Integer> tokens, String text) {
        for (int k = 1; k <= tokens.size(); k++) {
            String decoded = session.codec.decodeContinuation(tokens.subList(0, k));
            if (decoded.equals(text)) {
                return k;
            }
            if (decoded.length() > text.length() && decoded.indexOf(REPLACEMENT) < 0) {
                return -1;
            }
        }
        return -1;
    }

    private Decoding decoding(int step, int source, int token) {
        if (options.temperature() == 0) {
            return Decoding.GREEDY;
        }
        long mixed = options.seed() ^ (0x9E3779B97F4A7C15L * (step + 1)) ^ (0xC2B2AE3D27D4EB4FL * (source + 1))
                ^ (0x165667B19E3779F9L * (token + 1));
        double uniform = new SplittableRandom(mixed).nextDouble();
        return new Decoding(options.temperature(), options.topP(), uniform);
    }
}
