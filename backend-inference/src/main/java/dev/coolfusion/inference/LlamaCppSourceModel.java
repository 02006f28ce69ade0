package dev.coolfusion.inference;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.ScoredTokens;
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
 * A proposer-only source behind llama.cpp's server ({@code llama-server}), native {@code POST /completion}. Unlike
 * Ollama it takes and returns token ids, so proposals are exact; but its server returns the log-probabilities of the
 * tokens it generates only, not of a given continuation (no prompt log-probs, no {@code echo}), so it cannot score:
 * {@link #canScore()} is false, {@link #score} throws, {@link #append} extends the state with no request.
 *
 * <ul>
 *   <li>T1 ({@link #nextText}) and M2: {@code prompt} as token ids (no begin-of-sequence token is added to an id
 *       prompt), {@code n_predict} up to {@code chunk-tokens}, {@code n_probs: 1}, {@code return_tokens: true},
 *       {@code cache_prompt: true}; tokens and (pre-sampling) log-probs from {@code completion_probabilities}
 *       ({@code id}, {@code logprob}). Greedy is {@code temperature: 0}; sampling sends the temperature,
 *       {@code top_p}, a {@code seed} derived from the caller's draw, and switches the other samplers off. End of
 *       generation ({@code stop_type: "eos"}) without an end-of-sequence id in the answer becomes the local
 *       tokenizer's end-of-sequence token (log-prob NaN).</li>
 *   <li>State: the token sequence, kept here; the server's slot keeps the KV cache of the previous prompt and
 *       evaluates only the unseen suffix ({@code cache_prompt}).</li>
 * </ul>
 */
final class LlamaCppSourceModel implements SourceModel {
    static final String COMPLETION = "/completion";

    private final JsonHttp api;
    private final String servedModel;
    private final String name;
    private final TextCodec codec;
    private final OptionalInt maxContext;
    private final int chunkTokens;
    private final TokenStates states;

    LlamaCppSourceModel(JsonHttp api, String servedModel, String name, TextCodec codec, OptionalInt maxContext,
            int chunkTokens) {
        this.api = api;
        this.servedModel = servedModel;
        this.name = name;
        this.codec = codec;
        this.maxContext = maxContext;
        this.chunkTokens = chunkTokens;
        this.states = new TokenStates(name);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public TextCodec codec() {
        return codec;
    }

    @Override
    public boolean canScore() {
        return false;
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        requireNonNull(promptTokens, "promptTokens is null");
        if (promptTokens.isEmpty()) {
            throw new FusionException("model '" + name + "': the prompt has no tokens");
        }
        if (maxContext.isPresent() && promptTokens.size() >= maxContext.getAsInt()) {
            throw new FusionException("model '" + name + "': the prompt has " + promptTokens.size() + " tokens, the"
                    + " server's context (n_ctx per slot) is " + maxContext.getAsInt() + "; shorten the prompt or start"
                    + " llama-server with a larger --ctx-size");
        }
        return states.issue(promptTokens);
    }

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
        List<Integer> next = new ArrayList<>(tokens);
        next.add(chunk.tokens().get(0));
        return new TokenStep(chunk.tokens().get(0), chunk.logProbs().get(0), states.issue(next));
    }

    /** M3 is what llama.cpp's server cannot do: it returns no log-probabilities of prompt tokens. */
    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        throw new FusionException("source '" + name + "' (llama.cpp server " + api.base() + ") cannot score text:"
                + " llama-server returns log-probabilities of the tokens it generates, not of a given continuation (no"
                + " prompt log-probs), so this source only proposes (canScore() is false); serve the model with vLLM or"
                + " SGLang for a source that scores");
    }

    @Override
    public StateHandle append(StateHandle state, List<Integer> tokens) {
        requireNonNull(tokens, "tokens is null");
        return ChunkedSegments.extend(states, state, tokens);
    }

    @Override
    public void commit(StateHandle temporary) {
        states.tokens(temporary);
    }

    @Override
    public void release(Collection<StateHandle> handles) {
        states.release(handles);
    }

    @Override
    public OptionalInt maxContextTokens() {
        return maxContext;
    }

    @Override
    public void close() {
        LocalTokenizer.close(codec);
    }

    int liveStates() {
        return states.live();
    }

    private ChunkedSegments.Chunk generate(List<Integer> tokens, int maxTokens, Decoding decoding) {
        ObjectNode request = Json.MAPPER.createObjectNode();
        ArrayNode prompt = request.putArray("prompt");
        tokens.forEach(prompt::add);
        request.put("n_predict", maxTokens).put("n_probs", 1).put("return_tokens", true).put("cache_prompt", true)
                .put("stream", false).put("repeat_penalty", 1.0).put("presence_penalty", 0.0)
                .put("frequency_penalty", 0.0).put("dry_multiplier", 0.0);
        if (decoding.greedy()) {
            request.put("temperature", 0);
        } else {
            request.put("temperature", decoding.temperature()).put("top_p", decoding.topP()).put("top_k", 0)
                    .put("min_p", 0.0).put("typical_p", 1.0).put("xtc_probability", 0.0)
                    .put("seed", (long) (decoding.uniform() * Integer.MAX_VALUE));
        }
        String what = maxTokens == 1 ? "next-token" : "next-text";
        JsonNode answer = api.post(COMPLETION, request, JsonNode.class, what + " on model '" + servedModel + "'");
        JsonNode probs = answer.path("completion_probabilities");
        if (!probs.isArray()) {
            throw malformed(what, "no completion_probabilities (is n_probs honoured?)");
        }
        List<Integer> ids = new ArrayList<>();
        List<Double> logProbs = new ArrayList<>();
        for (JsonNode p : probs) {
            if (!p.path("id").isIntegralNumber() || !p.path("logprob").isNumber()) {
                throw malformed(what, "a completion_probabilities entry has no id and logprob: " + p);
            }
            ids.add(p.path("id").asInt());
            logProbs.add(p.path("logprob").asDouble());
        }
        boolean eos = "eos".equals(answer.path("stop_type").asText(""));
        if (eos && ids.size() < maxTokens && (ids.isEmpty() || !codec.endOfSequenceIds().contains(ids.get(ids.size() - 1)))) {
            OptionalInt end = codec.primaryEndOfSequenceId();
            if (end.isEmpty()) {
                throw new FusionException("source '" + name + "': llama.cpp ended the text but the tokenizer " + codec
                        + " has no end-of-sequence id to say so");
            }
            ids.add(end.getAsInt());
            logProbs.add(Double.NaN);
        }
        if (ids.isEmpty()) {
            throw malformed(what, "no tokens generated (stop_type '" + answer.path("stop_type").asText("") + "')");
        }
        return new ChunkedSegments.Chunk(ids, logProbs);
    }

    private FusionException malformed(String what, String detail) {
        return new FusionException("llama.cpp server " + api.base() + " (model '" + servedModel + "') answered " + what
                + " in a form this client does not understand: " + detail);
    }

    @Override
    public String toString() {
        return "llama.cpp model '" + servedModel + "' at " + api.base() + " (proposer only)";
    }
}
