package dev.coolfusion.inference;

import dev.coolfusion.segment.SegmentGenerator;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * T1 ({@link dev.coolfusion.spi.SourceModel#nextText}) over a server that generates several tokens per request: a
 * chunk of up to {@code chunkTokens} tokens (never past the segment limit or the context's room) is asked for, its
 * tokens are fed to {@link SegmentGenerator} one by one, and another chunk, twice as long, is asked for only when one
 * is used up without a segment. The tokens of the last chunk past where T1 stopped are returned as extra
 * {@link ProposedSegment#steps()}, which the fusion loop keeps as look-ahead when this source wins; so are replayed
 * look-ahead tokens T1 did not need. With greedy decoding the tokens are exactly those of one request per token.
 */
final class ChunkedSegments {
    /** Tokens a server generated after a context, each with its log-prob (temperature 1). */
    record Chunk(List<Integer> tokens, List<Double> logProbs) {
        Chunk {
            tokens = List.copyOf(tokens);
            logProbs = List.copyOf(logProbs);
            if (tokens.size() != logProbs.size()) {
                throw new IllegalArgumentException(tokens.size() + " tokens but " + logProbs.size() + " log-probs");
            }
        }
    }

    /** One generation request: up to {@code maxTokens} tokens after {@code context}, drawn as {@code decoding} says. */
    @FunctionalInterface
    interface Generator {
        Chunk generate(List<Integer> context, int maxTokens, Decoding decoding);
    }

    private ChunkedSegments() {}

    static ProposedSegment propose(String source, SegmentRequest request, TokenStates states, int chunkTokens,
            Generator generator) {
        int base = states.tokens(request.from()).size();
        Deque<TokenStep> buffered = new ArrayDeque<>();
        int[] size = {chunkTokens};
        SegmentGenerator.NextToken next = (from, decoding) -> {
            if (buffered.isEmpty()) {
                List<Integer> context = states.tokens(from);
                int sofar = context.size() - base;
                int budget = Math.max(1, request.maxSegmentTokens() - sofar);
                int max = Math.min(size[0], Math.min(budget, request.room() - sofar));
                size[0] = (int) Math.min(Integer.MAX_VALUE, 2L * size[0]);
                Chunk chunk = generator.generate(context, max, decoding);
                if (chunk.tokens().isEmpty() || chunk.tokens().size() > max) {
                    throw new FusionException("source '" + source + "': the server answered " + chunk.tokens().size()
                            + " tokens to a request for at most " + max + " (at least one)");
                }
                List<Integer> tokens = new ArrayList<>(context);
                for (int i = 0; i < chunk.tokens().size(); i++) {
                    tokens.add(chunk.tokens().get(i));
                    buffered.add(new TokenStep(chunk.tokens().get(i), chunk.logProbs().get(i), states.issue(tokens)));
                }
            }
            return buffered.poll();
        };
        ProposedSegment segment;
        try {
            segment = SegmentGenerator.generate(source, request, next);
        } catch (RuntimeException e) {
            states.release(buffered.stream().map(TokenStep::state).toList());
            throw e;
        }
        List<TokenStep> tail = new ArrayList<>();
        if (segment.steps().size() < request.ahead().size()) {
            tail.addAll(request.ahead().subList(segment.steps().size(), request.ahead().size()));
        }
        tail.addAll(buffered);
        if (tail.isEmpty()) {
            return segment;
        }
        if (segment.endOfSequence() || segment.contextFull()) {
            // Nothing follows the end of the sequence; the fusion loop releases replayed look-ahead itself.
            states.release(buffered.stream().map(TokenStep::state).toList());
            return segment;
        }
        List<TokenStep> steps = new ArrayList<>(segment.steps());
        steps.addAll(tail);
        return new ProposedSegment(segment.text(), false, steps, segment.segmentTokens(), false);
    }

    /** The state after {@code tokens} follow {@code from}, with no request: only for a caller that owns both. */
    static StateHandle extend(TokenStates states, StateHandle from, List<Integer> tokens) {
        List<Integer> all = new ArrayList<>(states.tokens(from));
        all.addAll(tokens);
        return states.issue(all);
    }
}
