package dev.coolfusion.inference;


import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;
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
final class LlamaCppSourceModel extends ServedSourceModel {
    static final String COMPLETION = "/completion";

    LlamaCppSourceModel(JsonHttp api, String servedModel, String name, TextCodec codec, OptionalInt maxContext,
            int chunkTokens) {
        super("llama.cpp", COMPLETION, api, servedModel, name, codec, maxContext, chunkTokens);
    }

    @Override
    public boolean canScore() {
        return false;
    }

    @Override
    protected String contextTooSmall(int context) {
        return " server's context (n_ctx per slot) is " + context + "; shorten the prompt or start llama-server with a"
                + " larger --ctx-size";
    }

    /** No check: a request for one token takes the first of what the server answered. */
    @Override
    protected void checkOneToken(ChunkedSegments.Chunk chunk) {}

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
        return extendLocally(state, tokens);
    }

    @Override
    protected ChunkedSegments.Chunk generate(List<Integer> tokens, int maxTokens, Decoding decoding) {
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
        JsonNode answer = post(request, what);
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
}
