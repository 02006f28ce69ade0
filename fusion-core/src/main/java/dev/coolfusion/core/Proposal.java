package dev.coolfusion.core;

import dev.coolfusion.spi.StateHandle;
import java.util.List;

/**
 * What T1 produced for one source in one step.
 *
 * @param text            the proposed segment
 * @param endOfSequence   whether the source ended the sequence
 * @param tokens          every token the source generated this step (including reused lookahead), in order
 * @param logProbs        their log-probs
 * @param states          the temporary state after each token
 * @param segmentTokens   how many leading tokens decode exactly to the segment (with end-of-sequence), or -1
 * @param contextFull     whether the source stopped because its context had no room for another token (the text is
 *                        then the fallback, possibly empty)
 */
record Proposal(
        int source,
        String text,
        boolean endOfSequence,
        List<Integer> tokens,
        List<Double> logProbs,
        List<StateHandle> states,
        int segmentTokens,
        boolean contextFull) {}
