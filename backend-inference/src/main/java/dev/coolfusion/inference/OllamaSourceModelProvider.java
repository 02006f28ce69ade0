package dev.coolfusion.inference;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The {@code ollama} backend: a proposer-only source ({@link SourceModel#canScore()} false) served by Ollama
 * ({@code ollama serve}). Options: {@code url} (required, e.g. {@code http://127.0.0.1:11434}), {@code model}
 * (required: the Ollama model name, e.g. {@code llama3.2:1b}), {@code tokenizer} (required: the same model's Hugging
 * Face tokenizer folder or {@code tokenizer.json}; Ollama cannot be asked how it tokenizes, so this is not checked),
 * {@code name}, {@code api-key} (for a proxy in front), {@code timeout-seconds} (default 120), {@code chunk-tokens}
 * (default {@value #DEFAULT_CHUNK_TOKENS}) and {@code num-ctx} (the context every request asks Ollama for, which is also
 * this source's context limit, default {@value #DEFAULT_NUM_CTX}).
 */
public final class OllamaSourceModelProvider implements SourceModelProvider {
    static final Set<String> OPTIONS = Set.of("url", "model", "tokenizer", "name", "api-key", "timeout-seconds",
            "chunk-tokens", "num-ctx");
    static final int DEFAULT_CHUNK_TOKENS = 8;
    static final int DEFAULT_NUM_CTX = 4096;
    private static final String KIND = "Ollama server";

    @Override
    public String name() {
        return "ollama";
    }

    @Override
    public String description() {
        return "ollama: a proposer-only source served by Ollama (/api/generate with raw text; cannot score);"
                + " options url, model, tokenizer, name, api-key, timeout-seconds, chunk-tokens, num-ctx";
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        requireNonNull(config, "config is null");
        config.requireOnly(OPTIONS);
        URI uri = ServerOptions.httpUrl(config);
        String model = config.require("model");
        String tokenizer = config.require("tokenizer");
        int chunkTokens = ServerOptions.chunkTokens(config, DEFAULT_CHUNK_TOKENS);
        int numCtx = config.getInt("num-ctx", DEFAULT_NUM_CTX);
        if (numCtx < 2) {
            throw new FusionException("provider 'ollama' option 'num-ctx' must be at least 2, got " + numCtx);
        }
        JsonHttp api = ServerOptions.connect(config, uri, KIND, "start it (ollama serve)");
        JsonNode tags = api.get("/api/tags", JsonNode.class, "list models").path("models");
        List<String> served = new ArrayList<>();
        tags.forEach(m -> served.add(m.path("name").asText(m.path("model").asText())));
        String wanted = model.contains(":") ? model : model + ":latest";
        if (!served.contains(model) && !served.contains(wanted)) {
            throw new FusionException(KIND + " " + uri + " has no model '" + model + "'; it has " + served
                    + " (ollama pull " + model + ")");
        }
        return new OllamaSourceModel(api, model, config.get("name", model), HfTextCodec.load(Path.of(tokenizer)), numCtx,
                chunkTokens);
    }
}
