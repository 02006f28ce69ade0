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
import java.util.List;
import java.util.OptionalInt;

/**
 * The {@code vllm} backend: a model served by vLLM's OpenAI-compatible server ({@code vllm serve <model>}). Options:
 * {@code url} (required, e.g. {@code http://127.0.0.1:8000}), {@code tokenizer} (required: the model's folder or
 * {@code tokenizer.json}, for the word-boundary checks that run after every generated token), {@code model} (the
 * served name; may be left out when the server serves one), {@code name}, {@code api-key} (if the server was started
 * with one), {@code timeout-seconds} (default 120) and {@code chunk-tokens} (the tokens the first generation request
 * of a step asks for, default {@value #DEFAULT_CHUNK_TOKENS}, twice as many for each further one; 1 asks for one token
 * per request). The local tokenizer is checked against the server's {@code /tokenize} when the model is created.
 */
public final class VllmSourceModelProvider implements SourceModelProvider {
    /** Tokens the first generation request of a step asks for (a further one in the step asks for twice as many). */
    static final int DEFAULT_CHUNK_TOKENS = 8;

    @Override
    public String name() {
        return "vllm";
    }

    @Override
    public String description() {
        return "vllm: a model served by vLLM's OpenAI-compatible API (completions with token-id prompts and echoed"
                + " log-probs); options url, tokenizer, model, name, api-key, timeout-seconds, chunk-tokens";
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        ServerOptions.TokenServer server = ServerOptions.tokenServer(config, DEFAULT_CHUNK_TOKENS, "vLLM server",
                "start it (vllm serve <model>)");
        URI uri = server.uri();
        JsonHttp api = server.api();
        String tokenizer = server.tokenizer();
        JsonNode models = api.get("/v1/models", JsonNode.class, "list models").path("data");
        List<String> served = new ArrayList<>();
        models.forEach(m -> served.add(m.path("id").asText()));
        String model = ServerOptions.chooseModel(config, served, "vLLM server " + uri);
        OptionalInt maxContext = OptionalInt.empty();
        for (JsonNode m : models) {
            if (m.path("id").asText().equals(model) && m.path("max_model_len").isInt()) {
                maxContext = OptionalInt.of(m.path("max_model_len").asInt());
            }
        }
        TextCodec codec = ServerOptions.checkedTokenizer(tokenizer, c -> {
            for (String probe : ServerOptions.PROBES) {
                ObjectNode request = Json.MAPPER.createObjectNode().put("model", model).put("prompt", probe)
                        .put("add_special_tokens", false);
                List<Integer> theirs = new ArrayList<>();
                api.post("/tokenize", request, JsonNode.class, "tokenize").path("tokens")
                        .forEach(t -> theirs.add(t.asInt()));
                if (!theirs.equals(c.encode(probe).ids())) {
                    throw new FusionException("the tokenizer at " + tokenizer + " does not match model '" + model
                            + "' served at " + uri + ": it tokenizes a probe text differently; point 'tokenizer' at the"
                            + " served model's folder");
                }
            }
        });
        return new VllmSourceModel(api, model, config.get("name", model), codec, maxContext, server.chunkTokens());
    }

}
