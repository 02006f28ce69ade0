package dev.coolfusion.core;

import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.util.List;

/**
 * What T1 produced for one source in one step, with its steps split once into the lists M3 and M4 read.
 *
 * @param source   the source's index
 * @param segment  the proposed segment, every token generated this step (replayed look-ahead first) with its
 *                 log-prob and the temporary state after it
 * @param tokens   the steps' tokens
 * @param logProbs their log-probs
 * @param states   the state after each
 */
record Proposal(int source, ProposedSegment segment, List<Integer> tokens, List<Double> logProbs,
        List<StateHandle> states) {

    Proposal(int source, ProposedSegment segment) {
        this(source, segment, segment.tokens(), segment.steps().stream().map(TokenStep::logProb).toList(),
                segment.steps().stream().map(TokenStep::state).toList());
    }

    String text() {
        return segment.text();
    }

    boolean endOfSequence() {
        return segment.endOfSequence();
    }

    /** How many leading tokens decode exactly to the segment (with end-of-sequence), or -1. */
    int segmentTokens() {
        return segment.segmentTokens();
    }

    /** Whether the source stopped because its context had no room for another token. */
    boolean contextFull() {
        return segment.contextFull();
    }

    List<TokenStep> steps() {
        return segment.steps();
    }
}
