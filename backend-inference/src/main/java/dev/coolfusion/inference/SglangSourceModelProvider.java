package dev.coolfusion.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.TextCodec;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;

/**
 * The {@code sglang} backend: a model served by SGLang ({@code python -m sglang.launch_server --model-path <model>}),
 * through its native API. Options: {@code url} (required, e.g. {@code http://127.0.0.1:30000}), {@code tokenizer}
 * (required: the model's folder or {@code tokenizer.json}), {@code model} (if given, checked against the served
 * model's path or name), {@code name}, {@code api-key} (the server's {@code --api-key}), {@code timeout-seconds}
 * (default 120) and {@code chunk-tokens} (the tokens the first generation request of a step asks for, default
 * {@value #DEFAULT_CHUNK_TOKENS}, twice as many for each further one; 1 asks for one token per request). On creation the server must say it serves a
 * generation model ({@code GET /get_model_info}), and the local tokenizer must tokenize probe texts as the server does
 * (a prefill-only {@code /generate} of each probe's text, whose {@code input_token_logprobs} carry the server's ids).
 */
public final class SglangSourceModelProvider implements SourceModelProvider {
    static final int DEFAULT_CHUNK_TOKENS = 8;
    private static final String KIND = "SGLang server";

    @Override
    public String name() {
        return "sglang";
    }

    @Override
    public String description() {
        return "sglang: a model served by SGLang's native /generate (token ids in, generated and prompt log-probs out,"
                + " radix cache); options url, tokenizer, model, name, api-key, timeout-seconds, chunk-tokens";
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        ServerOptions.TokenServer server = ServerOptions.tokenServer(config, DEFAULT_CHUNK_TOKENS, KIND,
                "start it (python -m sglang.launch_server --model-path <model>)");
        URI uri = server.uri();
        JsonHttp api = server.api();
        String tokenizer = server.tokenizer();
        JsonNode info = api.get("/get_model_info", JsonNode.class, "model info");
        if (!info.path("model_path").isTextual()) {
            throw new FusionException(KIND + " " + uri + " answered /get_model_info without a model_path: is 'url' the"
                    + " address of an SGLang server?");
        }
        if (!info.path("is_generation").asBoolean(true)) {
            throw new FusionException(KIND + " " + uri + " serves '" + info.path("model_path").asText() + "', which is"
                    + " not a generation model (is_generation: false); a source must generate and score text");
        }
        Set<String> names = new LinkedHashSet<>();
        names.add(info.path("model_path").asText());
        if (info.path("served_model_name").isTextual()) {
            names.add(info.path("served_model_name").asText());
        }
        OptionalInt maxContext = OptionalInt.empty();
        JsonNode models = api.get("/v1/models", JsonNode.class, "list models").path("data");
        for (JsonNode m : models) {
            names.add(m.path("id").asText());
            if (m.path("max_model_len").isInt()) {
                maxContext = OptionalInt.of(m.path("max_model_len").asInt());
            }
        }
        String model = config.get("model").orElse(info.path("model_path").asText());
        if (!names.contains(model)) {
            throw new FusionException(KIND + " " + uri + " does not serve '" + model + "'; it serves " + names);
        }
        TextCodec codec = ServerOptions.checkedTokenizer(tokenizer,
                c -> checkTokenizer(api, c, tokenizer, model, uri));
        return new SglangSourceModel(api, model, config.get("name", model), codec, maxContext, server.chunkTokens());
    }

    /** The server's ids of each probe text (read from a prefill-only request's input log-probs) equal the local ones. */
    private static void checkTokenizer(JsonHttp api, TextCodec codec, String tokenizer, String model, URI uri) {
        for (String probe : ServerOptions.PROBES) {
            ObjectNode request = Json.MAPPER.createObjectNode().put("text", probe);
            request.putObject("sampling_params").put("max_new_tokens", 0);
            request.put("return_logprob", true).put("logprob_start_len", 0).put("stream", false);
            List<Integer> theirs = new ArrayList<>();
            api.post(SglangSourceModel.GENERATE, request, JsonNode.class, "tokenize a probe text")
                    .path("meta_info").path("input_token_logprobs").forEach(e -> theirs.add(e.path(1).asInt()));
            if (!theirs.isEmpty() && codec.beginOfSequenceId().isPresent()
                    && theirs.get(0) == codec.beginOfSequenceId().getAsInt()) {
                theirs.remove(0);
            }
            if (!theirs.equals(codec.encode(probe).ids())) {
                throw new FusionException("the tokenizer at " + tokenizer + " does not match model '" + model
                        + "' served at " + uri + ": it tokenizes a probe text differently; point 'tokenizer' at the"
                        + " served model's folder");
            }
        }
    }
}
