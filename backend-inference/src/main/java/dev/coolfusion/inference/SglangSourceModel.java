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
import java.util.List;
import java.util.OptionalInt;

/**
 * A source model behind an SGLang server's native {@code POST /generate}. A state is its token sequence, kept on this
 * side ({@link TokenStates}); every request sends it as {@code input_ids}, and SGLang's radix cache supplies the KV
 * cache of the longest prefix it has seen.
 *
 * <ul>
 *   <li>T1 ({@link #nextText}) and M2: {@code sampling_params.max_new_tokens} up to {@code chunk-tokens} (1 for M2),
 *       {@code return_logprob: true} with {@code logprob_start_len} at the last input token (so the radix cache may
 *       supply all the input before it), the generated tokens and their log-probs read from
 *       {@code meta_info.output_token_logprobs} ({@code [logprob, token_id, null]} triples). Greedy is
 *       {@code temperature: 0}; sampling sends the temperature, {@code top_p} and a {@code sampling_seed} derived from
 *       the caller's draw.</li>
 *   <li>M3: one batched request, {@code input_ids} a list of prompt + candidate sequences, {@code max_new_tokens: 0}
 *       (prefill only) and {@code logprob_start_len} = the prompt's length minus one, so that only the candidate's
 *       tokens are scored ({@code meta_info.input_token_logprobs} from that position on; its first entry, the last
 *       prompt token, has no log-prob) and the radix cache may supply the whole prompt but its last token.</li>
 *   <li>T2/T3: a local copy of the model's tokenizer.</li>
 * </ul>
 */
final class SglangSourceModel extends ServedSourceModel {
    static final String GENERATE = "/generate";

    SglangSourceModel(JsonHttp api, String servedModel, String name, TextCodec codec, OptionalInt maxContext,
            int chunkTokens) {
        super("SGLang", GENERATE, api, servedModel, name, codec, maxContext, chunkTokens);
    }

    @Override
    protected ChunkedSegments.Chunk generate(List<Integer> tokens, int maxTokens, Decoding decoding) {
        ObjectNode request = Json.MAPPER.createObjectNode();
        ArrayNode ids = request.putArray("input_ids");
        tokens.forEach(ids::add);
        ObjectNode sampling = request.putObject("sampling_params").put("max_new_tokens", maxTokens);
        if (decoding.greedy()) {
            sampling.put("temperature", 0);
        } else {
            sampling.put("temperature", decoding.temperature()).put("top_p", decoding.topP())
                    .put("sampling_seed", (long) (decoding.uniform() * Integer.MAX_VALUE));
        }
        // logprob_start_len caps the radix-cache match: at the last input token, all the input before it may come from
        // the cache (left out, older versions read it as 0 and then match no cache for a request with return_logprob).
        request.put("return_logprob", true).put("logprob_start_len", tokens.size() - 1).put("stream", false);
        String what = maxTokens == 1 ? "next-token" : "next-text";
        JsonNode answer = post(request, what);
        JsonNode out = answer.path("meta_info").path("output_token_logprobs");
        if (!out.isArray()) {
            throw malformed(what, "no meta_info.output_token_logprobs (is return_logprob honoured?)");
        }
        List<Integer> generated = new ArrayList<>();
        List<Double> logProbs = new ArrayList<>();
        for (JsonNode entry : out) {
            if (!entry.path(0).isNumber() || !entry.path(1).isIntegralNumber()) {
                throw malformed(what, "an output_token_logprobs entry is not [logprob, token_id, text]: " + entry);
            }
            logProbs.add(entry.path(0).asDouble());
            generated.add(entry.path(1).asInt());
        }
        return new ChunkedSegments.Chunk(generated, logProbs);
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        requireNonNull(candidates, "candidates is null");
        List<Integer> tokens = states.tokens(state);
        List<Integer> asked = new ArrayList<>();
        ObjectNode request = Json.MAPPER.createObjectNode();
        ArrayNode inputs = request.putArray("input_ids");
        for (int c = 0; c < candidates.size(); c++) {
            if (!candidates.get(c).isEmpty()) {
                asked.add(c);
                ArrayNode p = inputs.addArray();
                tokens.forEach(p::add);
                candidates.get(c).forEach(p::add);
            }
        }
        int start = tokens.size() - 1;
        JsonNode results = null;
        if (!asked.isEmpty()) {
            request.putObject("sampling_params").put("max_new_tokens", 0).put("temperature", 0);
            request.put("return_logprob", true).put("logprob_start_len", start).put("stream", false);
            results = post(request, "score");
            if (!results.isArray() || results.size() != asked.size()) {
                throw malformed("score", "expected a list of " + asked.size() + " results for a batch of "
                        + asked.size() + ", got " + (results.isArray() ? results.size() + " results" : results.getNodeType()));
            }
        }
        List<ScoredTokens> out = new ArrayList<>();
        for (int c = 0; c < candidates.size(); c++) {
            List<Integer> candidate = candidates.get(c);
            List<Integer> all = new ArrayList<>(tokens);
            all.addAll(candidate);
            List<Double> logProbs = new ArrayList<>();
            if (!candidate.isEmpty()) {
                JsonNode entries = results.get(asked.indexOf(c)).path("meta_info").path("input_token_logprobs");
                if (!entries.isArray() || entries.size() != candidate.size() + 1) {
                    throw malformed("score", "candidate " + c + ": expected " + (candidate.size() + 1)
                            + " input_token_logprobs from logprob_start_len " + start + ", got "
                            + (entries.isArray() ? entries.size() : entries.getNodeType()));
                }
                for (int i = 0; i < candidate.size(); i++) {
                    JsonNode entry = entries.get(i + 1);
                    if (entry.path(1).asInt(-1) != candidate.get(i)) {
                        throw malformed("score", "input token " + (start + 1 + i) + " of candidate " + c
                                + " is not the one sent: " + entry);
                    }
                    if (!entry.path(0).isNumber()) {
                        throw malformed("score", "no log-prob for input token " + (start + 1 + i) + ": " + entry);
                    }
                    logProbs.add(entry.path(0).asDouble());
                }
            }
            out.add(new ScoredTokens(logProbs, states.issue(all)));
        }
        return out;
    }
}
