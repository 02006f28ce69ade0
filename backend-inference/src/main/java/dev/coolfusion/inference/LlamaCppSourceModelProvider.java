package dev.coolfusion.inference;

import com.fasterxml.jackson.databind.JsonNode;
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
 * The {@code llama-cpp} backend: a proposer-only source ({@link SourceModel#canScore()} false) served by llama.cpp's
 * {@code llama-server}. Options: {@code url} (required, e.g. {@code http://127.0.0.1:8080}), {@code tokenizer}
 * (required: the model's Hugging Face tokenizer folder or {@code tokenizer.json}), {@code model} (a name for messages;
 * default the server's {@code model_path}), {@code name}, {@code api-key} (the server's {@code --api-key}),
 * {@code timeout-seconds} (default 120) and {@code chunk-tokens} (default {@value #DEFAULT_CHUNK_TOKENS}). On creation
 * the context comes from {@code GET /props} ({@code n_ctx} of a slot) and the local tokenizer is checked against the
 * server's {@code POST /tokenize} (the GGUF's tokenizer) on probe texts.
 */
public final class LlamaCppSourceModelProvider implements SourceModelProvider {
    static final int DEFAULT_CHUNK_TOKENS = 8;
    private static final String KIND = "llama.cpp server";

    @Override
    public String name() {
        return "llama-cpp";
    }

    @Override
    public String description() {
        return "llama-cpp: a proposer-only source served by llama.cpp's llama-server (/completion with token ids; cannot"
                + " score); options url, tokenizer, model, name, api-key, timeout-seconds, chunk-tokens";
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        ServerOptions.TokenServer server = ServerOptions.tokenServer(config, DEFAULT_CHUNK_TOKENS, KIND,
                "start it (llama-server -m <model.gguf>)");
        URI uri = server.uri();
        JsonHttp api = server.api();
        String tokenizer = server.tokenizer();
        JsonNode props = api.get("/props", JsonNode.class, "server properties");
        if (!props.has("default_generation_settings")) {
            throw new FusionException(KIND + " " + uri + " answered /props without default_generation_settings: is"
                    + " 'url' the address of a llama-server?");
        }
        JsonNode nCtx = props.path("default_generation_settings").path("n_ctx");
        OptionalInt maxContext = nCtx.isInt() && nCtx.asInt() > 0 ? OptionalInt.of(nCtx.asInt()) : OptionalInt.empty();
        String model = config.get("model").orElse(props.path("model_path").asText("llama-server"));
        TextCodec codec = ServerOptions.checkedTokenizer(tokenizer, c -> {
            for (String probe : ServerOptions.PROBES) {
                List<Integer> theirs = new ArrayList<>();
                api.post("/tokenize", Json.MAPPER.createObjectNode().put("content", probe).put("add_special", false),
                        JsonNode.class, "tokenize").path("tokens").forEach(t -> theirs.add(t.asInt()));
                if (!theirs.equals(c.encode(probe).ids())) {
                    throw new FusionException("the tokenizer at " + tokenizer + " does not match the model served at "
                            + uri + " (" + model + "): it tokenizes a probe text differently; point 'tokenizer' at the"
                            + " Hugging Face tokenizer of the model the GGUF was converted from");
                }
            }
        });
        return new LlamaCppSourceModel(api, model, config.get("name", model), codec, maxContext, server.chunkTokens());
    }
}
