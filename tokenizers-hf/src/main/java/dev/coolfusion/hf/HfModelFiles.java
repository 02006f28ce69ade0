package dev.coolfusion.hf;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * The one reader of a Hugging Face model folder's text files: {@code tokenizer_config.json}, {@code chat_template.jinja},
 * the special tokens of {@code tokenizer.json}, and the end-of-sequence ids of {@code generation_config.json} or
 * {@code config.json}. {@link HfTextCodec} and the {@code chat-template} command both read through it, so they see
 * the same template and the same errors. Chat templates are chosen among several as {@code transformers} does:
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
public final class HfModelFiles {
    /** The special-token variables Hugging Face passes to a template ({@code special_tokens_map}). */
    public static final List<String> SPECIAL_TOKEN_KEYS =
            List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");

    private static final ObjectMapper JSON = new ObjectMapper();

    private HfModelFiles() {}

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
        JsonNode config = readJsonObject(file, "tokenizer config");
        return chatTemplate(file.toAbsolutePath().getParent(), config, name, file.toString());
    }

    /**
     * The chat template of a model folder whose {@code tokenizer_config.json} is {@code config}: the folder's
     * {@code chat_template.jinja} when no {@code name} is asked for (it takes precedence, as in {@code transformers}),
     * else the config's {@code chat_template}; {@code where} names the config in errors.
     */
    static Optional<ChatTemplate> chatTemplate(Path dir, JsonNode config, String name, String where) {
        Path jinja = dir.resolve("chat_template.jinja");
        if (name == null && Files.isRegularFile(jinja)) {
            try {
                return Optional.of(ChatTemplate.of(Files.readString(jinja, StandardCharsets.UTF_8), specialTokens(config)));
            } catch (IOException e) {
                throw new FusionException("cannot read " + jinja + ": " + e.getMessage(), e);
            }
        }
        return fromJson(config, name, where);
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

    /** A folder's {@code tokenizer_config.json}, or an empty object when the folder has none. */
    static JsonNode tokenizerConfig(Path dir) {
        Path config = dir.resolve("tokenizer_config.json");
        return Files.isRegularFile(config) ? readJsonObject(config, "tokenizer config") : JSON.createObjectNode();
    }

    /** The {@code added_tokens} of a {@code tokenizer.json} marked special, by id, streaming past the vocabulary. */
    static Map<Integer, String> addedSpecialTokens(Path tokenizerJson) {
        Map<Integer, String> out = new HashMap<>();
        try (JsonParser parser = JSON.getFactory().createParser(tokenizerJson.toFile())) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new FusionException("tokenizer file " + tokenizerJson + " is not a JSON object");
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String field = parser.currentName();
                parser.nextToken();
                if ("added_tokens".equals(field)) {
                    JsonNode tokens = parser.readValueAsTree();
                    for (JsonNode token : tokens) {
                        if (token.path("special").asBoolean(false)) {
                            out.put(token.path("id").asInt(), token.path("content").asText());
                        }
                    }
                } else {
                    parser.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new FusionException("cannot read tokenizer file " + tokenizerJson + ": " + e.getMessage(), e);
        }
        return out;
    }

    /**
     * {@code eos_token_id} (an int or a list) of the folder's {@code generation_config.json}, else its
     * {@code config.json}, else the id of the tokenizer config's {@code eos_token} among {@code specials}.
     */
    static Set<Integer> endOfSequenceIds(Path dir, JsonNode tokenizerConfig, Map<Integer, String> specials) {
        for (String file : List.of("generation_config.json", "config.json")) {
            Path path = dir.resolve(file);
            if (!Files.isRegularFile(path)) {
                continue;
            }
            JsonNode eos = readJsonObject(path, file).path("eos_token_id");
            Set<Integer> ids = new LinkedHashSet<>();
            if (eos.canConvertToInt()) {
                ids.add(eos.asInt());
            } else if (eos.isArray()) {
                eos.forEach(id -> ids.add(id.asInt()));
            }
            if (!ids.isEmpty()) {
                return ids;
            }
        }
        OptionalInt eos = specialId(tokenizerConfig.path("eos_token"), specials);
        return eos.isPresent() ? Set.of(eos.getAsInt()) : Collections.emptySet();
    }

    /** The id of a special token given in a config as a string or as {@code {"content": ...}}. */
    static OptionalInt specialId(JsonNode token, Map<Integer, String> specials) {
        String content = token.isTextual() ? token.asText() : token.path("content").asText(null);
        if (content != null) {
            for (Map.Entry<Integer, String> e : specials.entrySet()) {
                if (e.getValue().equals(content)) {
                    return OptionalInt.of(e.getKey());
                }
            }
        }
        return OptionalInt.empty();
    }

    /** A JSON object file; {@code what} names it in errors ("cannot parse tokenizer config ..."). */
    private static JsonNode readJsonObject(Path file, String what) {
        JsonNode node;
        try {
            node = JSON.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new FusionException("cannot parse " + what + " " + file + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new FusionException("cannot read " + what + " " + file + ": " + e.getMessage(), e);
        }
        if (node == null || !node.isObject()) {
            throw new FusionException(what + " " + file + " is not a JSON object");
        }
        return node;
    }
}
