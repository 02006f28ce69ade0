package dev.coolfusion.hf;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reads chat templates from Hugging Face files, choosing among several as {@code transformers} does.
 *
 * <ul>
 *   <li>{@code chat_template} in {@code tokenizer_config.json} is a string, or a list of {@code {name, template}}
 *       of which the one named {@code default} is used (another name can be asked for).</li>
 *   <li>A {@code chat_template.jinja} file next to it (how newer {@code transformers} saves templates) takes
 *       precedence.</li>
 *   <li>Special tokens ({@code bos_token}, {@code eos_token}, {@code unk_token}, {@code pad_token}, ...) are given as
 *       strings or as {@code {"content": ...}}; {@code null} ones are left out, so a template sees them undefined.</li>
 * </ul>
 */
public final class HfChatTemplates {
    /** The special-token variables Hugging Face passes to a template ({@code special_tokens_map}). */
    public static final List<String> SPECIAL_TOKEN_KEYS =
            List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");

    private static final ObjectMapper JSON = new ObjectMapper();

    private HfChatTemplates() {}

    /** The default chat template of a {@code tokenizer_config.json} (or a model folder containing one), if any. */
    public static Optional<ChatTemplate> fromTokenizerConfig(Path configOrDir) {
        return fromTokenizerConfig(configOrDir, null);
    }

    /** The chat template named {@code name} ({@code null}: the default) of a {@code tokenizer_config.json}. */
    public static Optional<ChatTemplate> fromTokenizerConfig(Path configOrDir, String name) {
        requireNonNull(configOrDir, "configOrDir is null");
        Path file = Files.isDirectory(configOrDir) ? configOrDir.resolve("tokenizer_config.json") : configOrDir;
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new FusionException("cannot read tokenizer config " + file.toAbsolutePath() + ": no such readable file");
        }
        JsonNode config;
        try {
            config = JSON.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new FusionException("cannot parse tokenizer config " + file + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new FusionException("cannot read tokenizer config " + file + ": " + e.getMessage(), e);
        }
        if (config == null || !config.isObject()) {
            throw new FusionException("tokenizer config " + file + " is not a JSON object");
        }
        Path jinja = file.toAbsolutePath().resolveSibling("chat_template.jinja");
        if (name == null && Files.isRegularFile(jinja)) {
            try {
                return Optional.of(ChatTemplate.of(Files.readString(jinja, StandardCharsets.UTF_8), specialTokens(config)));
            } catch (IOException e) {
                throw new FusionException("cannot read " + jinja + ": " + e.getMessage(), e);
            }
        }
        return fromJson(config, name, file.toString());
    }

    /** The chat template in a parsed {@code tokenizer_config.json}; {@code where} names it in errors. */
    public static Optional<ChatTemplate> fromJson(JsonNode config, String name, String where) {
        requireNonNull(config, "config is null");
        return select(config.path("chat_template"), name, where).map(source -> ChatTemplate.of(source, specialTokens(config)));
    }

    private static Optional<String> select(JsonNode node, String name, String where) {
        if (node.isMissingNode() || node.isNull()) {
            if (name != null) {
                throw new FusionException(where + " has no chat template named '" + name + "'");
            }
            return Optional.empty();
        }
        if (node.isTextual()) {
            if (name != null && !name.equals("default")) {
                throw new FusionException(where + " has a single chat template, not one named '" + name + "'");
            }
            return Optional.of(node.asText());
        }
        if (node.isArray()) {
            Map<String, String> byName = new LinkedHashMap<>();
            for (JsonNode entry : node) {
                if (!entry.path("name").isTextual() || !entry.path("template").isTextual()) {
                    throw new FusionException(where + ": chat_template entries must be {\"name\": ..., \"template\": ...}");
                }
                byName.put(entry.get("name").asText(), entry.get("template").asText());
            }
            String wanted = name == null ? "default" : name;
            String source = byName.get(wanted);
            if (source == null) {
                throw new FusionException(where + " has no chat template named '" + wanted + "'; it has "
                        + new ArrayList<>(byName.keySet()));
            }
            return Optional.of(source);
        }
        throw new FusionException(where + ": chat_template must be a string or a list of {name, template}");
    }

    /** The special-token strings of a tokenizer config, by variable name. */
    public static Map<String, String> specialTokens(JsonNode config) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String key : SPECIAL_TOKEN_KEYS) {
            JsonNode token = config.path(key);
            String content = token.isTextual() ? token.asText() : token.path("content").isTextual() ? token.path("content").asText() : null;
            if (content != null) {
                out.put(key, content);
            }
        }
        return out;
    }
}
