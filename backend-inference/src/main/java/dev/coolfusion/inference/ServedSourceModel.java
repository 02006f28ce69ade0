package dev.coolfusion.inference;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * What the inference-server sources share: a state is its token sequence, kept on this side ({@link TokenStates});
 * the tokenizer is a local copy of the model's; T1 ({@link #nextText}) runs in chunks of {@code chunk-tokens}
 * ({@link ChunkedSegments}; with {@code chunk-tokens: 1} the fusion loop runs T1 over {@link #nextToken}), and M2
 * ({@link #nextToken}) is a one-token chunk. A subclass supplies the server's generation request ({@link #generate})
 * and, where the server can, scoring ({@link #score}); a proposer-only one overrides {@link #canScore()},
 * {@link #score} and {@link #append} (with {@link #extendLocally}).
 */
abstract class ServedSourceModel implements SourceModel {
    protected final JsonHttp api;
    protected final String servedModel;
    protected final String name;
    protected final TextCodec codec;
    protected final TokenStates states;
    private final OptionalInt maxContext;
    private final int chunkTokens;
    private final String server;
    private final String endpoint;

    /**
     * @param server the server's name in messages ({@code "vLLM"}, {@code "SGLang"}, ...)
     * @param endpoint the path {@link #post} sends generation and scoring requests to
     */
    ServedSourceModel(String server, String endpoint, JsonHttp api, String servedModel, String name, TextCodec codec,
            OptionalInt maxContext, int chunkTokens) {
        this.server = server;
        this.endpoint = endpoint;
        this.api = api;
        this.servedModel = servedModel;
        this.name = name;
        this.codec = codec;
        this.maxContext = maxContext;
        this.chunkTokens = chunkTokens;
        this.states = new TokenStates(name);
    }

    /** Up to {@code maxTokens} tokens after {@code tokens}, with their log-probs, in one request to the server. */
    protected abstract ChunkedSegments.Chunk generate(List<Integer> tokens, int maxTokens, Decoding decoding);

    @Override
    public String name() {
        return name;
    }

    @Override
    public TextCodec codec() {
        return codec;
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        requireNonNull(promptTokens, "promptTokens is null");
        if (promptTokens.isEmpty()) {
            throw new FusionException("model '" + name + "': the prompt has no tokens");
        }
        if (maxContext.isPresent() && promptTokens.size() >= maxContext.getAsInt()) {
            throw new FusionException("model '" + name + "': the prompt has " + promptTokens.size() + " tokens, the"
                    + contextTooSmall(maxContext.getAsInt()));
        }
        return states.issue(promptTokens);
    }

    /** The end of the message for a prompt that fills {@code context}, after "the prompt has N tokens, the". */
    protected String contextTooSmall(int context) {
        return " served model's context is " + context + "; shorten the prompt";
    }

    /** T1 in chunks of {@code chunk-tokens}; with {@code chunk-tokens: 1} the fusion loop runs T1 over {@link #nextToken}. */
    @Override
    public Optional<ProposedSegment> nextText(SegmentRequest request) {
        requireNonNull(request, "request is null");
        if (chunkTokens == 1) {
            return Optional.empty();
        }
        return Optional.of(ChunkedSegments.propose(name, request, states, chunkTokens, this::generate));
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        requireNonNull(decoding, "decoding is null");
        List<Integer> tokens = states.tokens(state);
        ChunkedSegments.Chunk chunk = generate(tokens, 1, decoding);
        checkOneToken(chunk);
        List<Integer> next = new ArrayList<>(tokens);
        next.add(chunk.tokens().get(0));
        return new TokenStep(chunk.tokens().get(0), chunk.logProbs().get(0), states.issue(next));
    }

    /** Checks that a request for one token got exactly one. */
    protected void checkOneToken(ChunkedSegments.Chunk chunk) {
        if (chunk.tokens().size() != 1) {
            throw malformed("next-token", "expected one token, got " + chunk.tokens().size());
        }
    }

    /** For a proposer-only source's {@link #append}: the state after {@code tokens}, kept here, with no request. */
    protected final StateHandle extendLocally(StateHandle state, List<Integer> tokens) {
        requireNonNull(tokens, "tokens is null");
        return ChunkedSegments.extend(states, state, tokens);
    }

    @Override
    public void commit(StateHandle temporary) {
        states.tokens(temporary); // a state is its tokens; committing only checks that it is known
    }

    @Override
    public void release(Collection<StateHandle> handles) {
        states.release(handles);
    }

    @Override
    public OptionalInt maxContextTokens() {
        return maxContext;
    }

    /** Frees the local tokenizer; the served model stays on its server. */
    @Override
    public void close() {
        if (codec instanceof HfTextCodec local) {
            local.close();
        }
    }

    /** How many states are held (for leak checks). */
    int liveStates() {
        return states.live();
    }

    /** {@code request} posted to the server's endpoint; {@code what} names the call in messages. */
    protected final JsonNode post(ObjectNode request, String what) {
        return api.post(endpoint, request, JsonNode.class, what + " on model '" + servedModel + "'");
    }

    protected final FusionException malformed(String what, String detail) {
        return new FusionException(server + " server " + api.base() + " (model '" + servedModel + "') answered " + what
                + " in a form this client does not understand: " + detail);
    }

    @Override
    public String toString() {
        return server + " model '" + servedModel + "' at " + api.base() + (canScore() ? "" : " (proposer only)");
    }
}
