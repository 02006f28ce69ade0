package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A source model behind the paper's per-worker API (Table 1, M1 to M4), paired with its own tokenizer.
 *
 * <p>States are persistent: an operation never changes the state it starts from, it returns a new handle.
 * Backends are free to share storage between a state and the states derived from it (a KV cache is append-only).
 * Handles are opaque and only token ids, text and numbers cross this interface, so an implementation can live in
 * another process or on another machine.
 *
 * <p>Lifecycle: every handle returned by {@link #open}, {@link #nextToken} or {@link #score} must eventually be
 * passed to {@link #release}. {@link #commit} marks a temporary state as one the caller keeps across steps.
 *
 * <p>Implementations must be safe for use by one thread at a time per state lineage; the core never calls one
 * model from two threads at once.
 */
public interface SourceModel extends AutoCloseable {

    /** A short name, unique within one fusion, used in traces and error messages. */
    String name();

    /** This model's tokenizer (T2/T3). */
    TextCodec codec();

    /** M1: runs the prompt (already tokenized with {@link #codec()}, special tokens included) and returns a committed state. */
    StateHandle open(List<Integer> promptTokens);

    /** M2: generates one token after {@code state}. The input state stays valid. */
    TokenStep nextToken(StateHandle state, Decoding decoding);

    /**
     * M3: scores each candidate token sequence as a continuation of {@code state}.
     * Candidates come as one list so that a backend can score them in one batched forward.
     *
     * @return one result per candidate, in order; an empty candidate gets no log-probs and a state equal in content to the input
     */
    List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates);

    /**
     * T1 where the model is (Table 1's {@code next_text}): proposes one aligned segment after {@code request.from()}
     * as the in-process loop would (same tokens, same text), for a backend that saves round trips by running it
     * itself (a worker on another machine, an inference server that generates several tokens per request).
     *
     * @return the proposal, or empty when this backend leaves T1 to the caller, who then calls {@link #nextToken} per
     *         token (the default)
     */
    default Optional<ProposedSegment> nextText(SegmentRequest request) {
        requireNonNull(request, "request is null");
        return Optional.empty();
    }

    /**
     * Whether this model can score a given text ({@link #score} with log-probs). A proposer-only source (an inference
     * server that generates but cannot score a given continuation) answers false: it proposes segments, the rerank
     * metric averages over the sources that can score, and its state follows the winner through {@link #append}.
     */
    default boolean canScore() {
        return true;
    }

    /**
     * The state after {@code tokens} follow {@code state}, as a new temporary state (Table 1's {@code update_state}
     * without log-probs). The default scores the tokens and keeps the state; a proposer-only source overrides it.
     */
    default StateHandle append(StateHandle state, List<Integer> tokens) {
        requireNonNull(state, "state is null");
        requireNonNull(tokens, "tokens is null");
        return score(state, List.of(tokens)).get(0).state();
    }

    /** M4: keeps {@code temporary} as a committed state of this conversation. */
    void commit(StateHandle temporary);

    /** Frees the given states; releasing an unknown or already released handle is a no-op. */
    void release(Collection<StateHandle> states);

    /**
     * M4 and the step's clean-up in one call: {@link #commit} {@code temporary}, then {@link #release} {@code states}
     * (which may include the previously committed state). A backend across a network overrides it to save a round trip.
     */
    default void commitAndRelease(StateHandle temporary, Collection<StateHandle> states) {
        commit(temporary);
        release(states);
    }

    /**
     * The negative log-likelihood (nats, summed over the tokens) of {@code tokens} after {@code state} under this
     * model's distribution at each of {@code temperatures}: at temperature {@code T} a token's probability is
     * {@code p(x)^(1/T)}, renormalised, where {@code p} is what {@link #score} uses (so {@code T = 1} gives minus the
     * sum of {@link #score}'s log-probabilities). A backend that sees its logits answers every temperature from one
     * forward pass, which makes temperature calibration cheap; the state is left as it was and nothing needs
     * releasing.
     *
     * @return one NLL per temperature, in order; empty when this backend cannot rescale its distribution (the default)
     */
    default Optional<double[]> nllAtTemperatures(StateHandle state, List<Integer> tokens, double[] temperatures) {
        requireNonNull(state, "state is null");
        requireNonNull(tokens, "tokens is null");
        requireNonNull(temperatures, "temperatures is null");
        return Optional.empty();
    }

    /**
     * The most tokens one state may hold (its prompt and every token after it), if limited. {@link #nextToken} on a
     * state of {@code n} tokens needs {@code n + 1 <= max}; {@link #score} of a {@code k}-token candidate needs
     * {@code n + k <= max}; a backend fails a call that would go past it. The fusion counts every state's tokens
     * itself and never asks for more: a prompt that leaves no room is a {@link ContextLengthExceededException} before
     * {@link #open}, and a generation that fills the context ends there (finish reason {@code LENGTH}).
     */
    default OptionalInt maxContextTokens() {
        return OptionalInt.empty();
    }

    /**
     * How many token ids this model knows (its ids are {@code 0 .. size - 1}), if it can tell; a server uses it to
     * refuse an out-of-range id with a clear message before the model sees it.
     */
    default OptionalInt vocabularySize() {
        return OptionalInt.empty();
    }

    /** Frees everything this model holds. */
    @Override
    default void close() {}
}
