package dev.coolfusion.remote;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import java.util.List;
import java.util.Map;

/**
 * The JSON bodies of the Table-1 protocol, version {@value #PROTOCOL}. Every operation is a {@code POST} of one JSON
 * object to {@code /v1/models/{name}/{operation}}; {@code GET /v1/models} lists what a server serves. Errors come back
 * with a 4xx/5xx status and {@code {"error": "..."}}. Only token ids, text, numbers and opaque state ids cross it.
 */
final class Wire {
    static final int PROTOCOL = 1;
    static final String MODELS = "/v1/models";

    static final ObjectMapper JSON = new ObjectMapper()
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /**
     * How a server reads requests: as {@link #JSON}, but strict about numbers and booleans. A token id must be a JSON
     * integer ({@code 1.5} and {@code "5"} are refused, not truncated or parsed), a number a JSON number and a boolean
     * {@code true} or {@code false}.
     */
    static final ObjectMapper REQUESTS = strict(JSON.copy());

    private static ObjectMapper strict(ObjectMapper mapper) {
        mapper.disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT);
        mapper.coercionConfigDefaults().setCoercion(CoercionInputShape.String, CoercionAction.Fail);
        return mapper;
    }

    private Wire() {}

    /** What a model is: its name, context limit and the tokenizer facts a client needs without a round trip. */
    record ModelInfo(String name, Integer maxContext, List<Integer> endOfSequence, Integer beginOfSequence,
            Template chatTemplate) {}

    record Template(String source, Map<String, String> specialTokens) {}

    record Models(int protocol, List<ModelInfo> models) {}

    record Open(List<Integer> tokens) {}

    record State(String state) {}

    /** Every field is required: a missing one is refused rather than decoded with a default the client did not mean. */
    record NextToken(String state, Double temperature, Double topP, Double uniform) {}

    record Step(int token, double logProb, String state) {}

    record Score(String state, List<List<Integer>> candidates) {}

    record Scored(List<Double> logProbs, String state) {}

    record ScoreResult(List<Scored> results) {}

    record Release(List<String> states) {}

    record Tempered(String state, List<Integer> tokens, double[] temperatures) {}

    /** {@code nll} is absent when the served model cannot rescale its distribution. */
    record TemperedNll(double[] nll) {}

    record CommitRelease(String state, List<String> states) {}

    record Encode(String text, boolean continuation) {}

    record Encoding(String text, List<Integer> ids, List<String> tokens, List<int[]> words) {}

    record Decode(List<Integer> ids, boolean continuation) {}

    record Text(String text) {}

    record SpecialQuery(List<Integer> ids) {}

    record Special(List<Boolean> special) {}

    record Error(String error) {}

    record Empty() {}
}
