package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A source model behind a vLLM server's OpenAI-compatible completions API. vLLM keeps no state a client can extend,
 * so a state here is the token sequence itself, kept on this side; every call sends it as a token-id prompt and vLLM's
 * prefix cache avoids recomputing the shared part.
 *
 * <ul>
 *   <li>M2: {@code max_tokens: 1, logprobs: 1, return_tokens_as_token_ids: true}; greedy is {@code temperature: 0},
 *       sampling passes the temperature, top-p and a {@code seed} derived from the caller's draw (reproducible, but
 *       vLLM's own sampler rather than the inverse-CDF draw of the DJL backend).</li>
 *   <li>M3: all candidates in one request ({@code prompt} as a list of token lists) with {@code echo: true}: vLLM
 *       returns the log-probability of every prompt token, and the candidate's are the last ones.</li>
 *   <li>T2/T3: a local copy of the model's tokenizer; word boundaries are checked locally.</li>
 * </ul>
 */
final class VllmSourceModel implements SourceModel {
    static final String COMPLETIONS = "/v1/completions";

    private final JsonHttp api;
    private final String servedModel;
    private final String name;
    private final TextCodec codec;
    private final OptionalInt maxContext;
    private final Map<String, List<Integer>> states = new HashMap<>();
    private final AtomicLong ids = new AtomicLong();

    VllmSourceModel(JsonHttp api, String servedModel, String name, TextCodec codec, OptionalInt maxContext) {
        this.api = api;
        this.servedModel = servedModel;
        this.name = name;
        this.codec = codec;
        this.maxContext = maxContext;
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
    public synchronized StateHandle open(List<Integer> promptTokens) {
        requireNonNull(promptTokens, "promptTokens is null");
        if (promptTokens.isEmpty()) {
            throw new FusionException("model '" + name + "': the prompt has no tokens");
        }
        if (maxContext.isPresent() && promptTokens.size() >= maxContext.getAsInt()) {
            throw new FusionException("model '" + name + "': the prompt has " + promptTokens.size() + " tokens, the served"
                    + " model's context is " + maxContext.getAsInt() + "; shorten the prompt");
        }
        return issue(List.copyOf(promptTokens));
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        requireNonNull(decoding, "decoding is null");
        List<Integer> tokens = tokens(state);
        ArrayNode prompt = Wire.JSON.createArrayNode();
        tokens.forEach(prompt::add);
        ObjectNode request = request(prompt);
        if (decoding.greedy()) {
            request.put("temperature", 0);
        } else {
            request.put("temperature", decoding.temperature()).put("top_p", decoding.topP())
                    .put("seed", (long) (decoding.uniform() * Integer.MAX_VALUE));
        }
        JsonNode logprobs = only(complete(request, "next-token"), "next-token").path("logprobs");
        int token = tokenId(logprobs.path("tokens").path(0));
        double logProb = logprobs.path("token_logprobs").path(0).asDouble(Double.NaN);
        if (Double.isNaN(logProb)) {
            throw malformed("next-token", "no token_logprobs for the generated token");
        }
        List<Integer> next = new ArrayList<>(tokens);
        next.add(token);
        return new TokenStep(token, logProb, issue(List.copyOf(next)));
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        requireNonNull(candidates, "candidates is null");
        List<Integer> tokens = tokens(state);
        List<ScoredTokens> out = new ArrayList<>();
        List<Integer> asked = new ArrayList<>();
        ArrayNode prompts = Wire.JSON.createArrayNode();
        for (int c = 0; c < candidates.size(); c++) {
            if (!candidates.get(c).isEmpty()) {
                asked.add(c);
                ArrayNode p = prompts.addArray();
                tokens.forEach(p::add);
                candidates.get(c).forEach(p::add);
            }
        }
        Map<Integer, JsonNode> choices = new HashMap<>();
        if (!asked.isEmpty()) {
            ObjectNode request = request(prompts).put("temperature", 0).put("echo", true);
            for (JsonNode choice : complete(request, "score").path("choices")) {
                choices.put(choice.path("index").asInt(-1), choice);
            }
        }
        for (int c = 0; c < candidates.size(); c++) {
            List<Integer> candidate = candidates.get(c);
            List<Integer> all = new ArrayList<>(tokens);
            all.addAll(candidate);
            List<Double> logProbs = new ArrayList<>();
            if (!candidate.isEmpty()) {
                JsonNode choice = choices.get(asked.indexOf(c));
                if (choice == null) {
                    throw malformed("score", "no choice for candidate " + c);
                }
                JsonNode lp = choice.path("logprobs");
                for (int i = 0; i < candidate.size(); i++) {
                    int at = tokens.size() + i;
                    if (tokenId(lp.path("tokens").path(at)) != candidate.get(i)) {
                        throw malformed("score", "echoed token " + at + " of candidate " + c + " is not the one sent");
                    }
                    JsonNode v = lp.path("token_logprobs").path(at);
                    if (!v.isNumber()) {
                        throw malformed("score", "no log-prob for echoed token " + at);
                    }
                    logProbs.add(v.asDouble());
                }
            }
            out.add(new ScoredTokens(logProbs, issue(List.copyOf(all))));
        }
        return out;
    }

    @Override
    public void commit(StateHandle temporary) {
        tokens(temporary); // a state is its tokens; committing only checks that it is known
    }

    @Override
    public synchronized void release(Collection<StateHandle> handles) {
        requireNonNull(handles, "handles is null");
        handles.forEach(h -> states.remove(h.id()));
    }

    @Override
    public OptionalInt maxContextTokens() {
        return maxContext;
    }

    /** Frees the local tokenizer; the served model stays on its server. */
    @Override
    public void close() {
        LocalTokenizer.close(codec);
    }

    /** How many states are held (for leak checks). */
    synchronized int liveStates() {
        return states.size();
    }

    private JsonNode complete(ObjectNode request, String what) {
        return api.post(COMPLETIONS, request, JsonNode.class, what + " on model '" + servedModel + "'");
    }

    /** A one-token completion of {@code prompt} (token ids, or a list of them) with its log-prob, ids as tokens. */
    private ObjectNode request(ArrayNode prompt) {
        ObjectNode request = Wire.JSON.createObjectNode().put("model", servedModel);
        request.set("prompt", prompt);
        return request.put("max_tokens", 1).put("logprobs", 1).put("return_tokens_as_token_ids", true);
    }

    private JsonNode only(JsonNode response, String what) {
        JsonNode choices = response.path("choices");
        if (!choices.isArray() || choices.size() != 1) {
            throw malformed(what, "expected one choice, got " + choices);
        }
        return choices.get(0);
    }

    private int tokenId(JsonNode token) {
        String s = token.asText("");
        if (!s.startsWith("token_id:")) {
            throw malformed("a call", "token '" + s + "' is not of the form token_id:N; the server must honour"
                    + " return_tokens_as_token_ids (vLLM 0.4.1 or later)");
        }
        return Integer.parseInt(s.substring("token_id:".length()));
    }

    private FusionException malformed(String what, String detail) {
        return new FusionException("vLLM server " + api.base() + " (model '" + servedModel + "') answered " + what
                + " in a form this client does not understand: " + detail);
    }

    private synchronized StateHandle issue(List<Integer> tokens) {
        String id = Long.toString(ids.incrementAndGet());
        states.put(id, tokens);
        return new StateHandle(id);
    }

    private synchronized List<Integer> tokens(StateHandle state) {
        requireNonNull(state, "state is null");
        List<Integer> tokens = states.get(state.id());
        if (tokens == null) {
            throw new FusionException("model '" + name + "': unknown state " + state + " (released, or from another model)");
        }
        return tokens;
    }

    @Override
    public String toString() {
        return "vLLM model '" + servedModel + "' at " + api.base();
    }
}
