package dev.coolfusion.inference;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A source model behind a vLLM server's OpenAI-compatible completions API. vLLM keeps no state a client can extend,
 * so a state here is the token sequence itself, kept on this side ({@link TokenStates}); every call sends it as a
 * token-id prompt and vLLM's automatic prefix cache spares recomputing generation prompts (not scoring ones: see the
 * module's README).
 *
 * <ul>
 *   <li>T1 ({@link #nextText}): completions of up to {@code chunk-tokens} tokens ({@code max_tokens}, never past the
 *       segment limit or the context) with {@code logprobs: 1, return_tokens_as_token_ids: true}, cut at the common
 *       word boundary here ({@link ChunkedSegments}); the rest of a chunk is look-ahead.</li>
 *   <li>M2 ({@link #nextToken}): the same request with {@code max_tokens: 1}. Greedy is {@code temperature: 0};
 *       sampling passes the temperature, top-p and a {@code seed} derived from the caller's draw (reproducible, but
 *       vLLM's own sampler rather than the inverse-CDF draw of the DJL backend).</li>
 *   <li>M3: all candidates in one request ({@code prompt} as a list of token lists) with {@code echo: true}: vLLM
 *       returns the log-probability of every prompt token, and the candidate's are the last ones.</li>
 *   <li>T2/T3: a local copy of the model's tokenizer; word boundaries are checked locally.</li>
 * </ul>
 */
final class VllmSourceModel extends ServedSourceModel {
    static final String COMPLETIONS = "/v1/completions";

    VllmSourceModel(JsonHttp api, String servedModel, String name, TextCodec codec, OptionalInt maxContext,
            int chunkTokens) {
        super("vLLM", COMPLETIONS, api, servedModel, name, codec, maxContext, chunkTokens);
    }

    /** Up to {@code maxTokens} tokens after {@code tokens}, with their log-probs, in one completion request. */
    @Override
    protected ChunkedSegments.Chunk generate(List<Integer> tokens, int maxTokens, Decoding decoding) {
        ArrayNode prompt = Json.MAPPER.createArrayNode();
        tokens.forEach(prompt::add);
        ObjectNode request = request(prompt, maxTokens);
        if (decoding.greedy()) {
            request.put("temperature", 0);
        } else {
            request.put("temperature", decoding.temperature()).put("top_p", decoding.topP())
                    .put("seed", (long) (decoding.uniform() * Integer.MAX_VALUE));
        }
        String what = maxTokens == 1 ? "next-token" : "next-text";
        JsonNode logprobs = only(post(request, what), what).path("logprobs");
        JsonNode ids = logprobs.path("tokens");
        JsonNode values = logprobs.path("token_logprobs");
        if (!ids.isArray() || !values.isArray() || ids.size() != values.size()) {
            throw malformed(what, "logprobs.tokens and logprobs.token_logprobs must be arrays of equal length");
        }
        List<Integer> out = new ArrayList<>();
        List<Double> lps = new ArrayList<>();
        for (int i = 0; i < ids.size(); i++) {
            out.add(tokenId(ids.get(i)));
            if (!values.get(i).isNumber()) {
                throw malformed(what, "no token_logprobs for generated token " + i);
            }
            lps.add(values.get(i).asDouble());
        }
        return new ChunkedSegments.Chunk(out, lps);
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        requireNonNull(candidates, "candidates is null");
        List<Integer> tokens = states.tokens(state);
        List<ScoredTokens> out = new ArrayList<>();
        List<Integer> asked = new ArrayList<>();
        ArrayNode prompts = Json.MAPPER.createArrayNode();
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
            ObjectNode request = request(prompts, 1).put("temperature", 0).put("echo", true);
            for (JsonNode choice : post(request, "score").path("choices")) {
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
            out.add(new ScoredTokens(logProbs, states.issue(all)));
        }
        return out;
    }

    /** A completion of {@code maxTokens} after {@code prompt} (token ids, or a list of them) with log-probs, ids as tokens. */
    private ObjectNode request(ArrayNode prompt, int maxTokens) {
        ObjectNode request = Json.MAPPER.createObjectNode().put("model", servedModel);
        request.set("prompt", prompt);
        return request.put("max_tokens", maxTokens).put("logprobs", 1).put("return_tokens_as_token_ids", true);
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
        try {
            return Integer.parseInt(s.substring("token_id:".length()));
        } catch (NumberFormatException e) {
            throw malformed("a call", "token '" + s + "' is not of the form token_id:N");
        }
    }
}
