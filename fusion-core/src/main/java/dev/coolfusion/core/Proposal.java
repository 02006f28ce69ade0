package dev.coolfusion.core;

import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.util.List;

/**
 * What T1 produced for one source in one step.
 *
 * @param source  the source's index
 * @param segment the proposed segment, every token generated this step (replayed look-ahead first) with its
 *                log-prob and the temporary state after it
 */
record Proposal(int source, ProposedSegment segment) {

    String text() {
        return segment.text();
    }

    boolean endOfSequence() {
        return segment.endOfSequence();
    }

    List<Integer> tokens() {
        return segment.tokens();
    }

    List<Double> logProbs() {
        return segment.steps().stream().map(TokenStep::logProb).toList();
    }

    List<StateHandle> states() {
        return segment.steps().stream().map(TokenStep::state).toList();
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
