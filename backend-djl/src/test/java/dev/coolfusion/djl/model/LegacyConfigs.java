package dev.coolfusion.djl.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes the transformers 4.x form of a transformers-5 model folder's {@code config.json}, as most checkpoints on the
 * hub still have it, into a new folder whose other files link to the original's. The mapping (see
 * {@code shared/fixtures/hf-tiny2/README.md}): {@code dtype} becomes {@code torch_dtype}; {@code rope_parameters}
 * becomes a top-level {@code rope_theta} and a {@code rope_scaling} (null for the default rope; Phi-3 spells its type
 * {@code "type": "longrope"} and keeps {@code original_max_position_embeddings} at the top level; GLM keeps {@code
 * partial_rotary_factor} at the top level); Gemma 3's per-layer-type dicts become {@code rope_theta} (full attention),
 * {@code rope_local_base_freq} (sliding) and, instead of {@code layer_types}, {@code sliding_window_pattern}; Gemma
 * 2 writes no {@code layer_types} (alternating is its rule) and both {@code hidden_act} and {@code hidden_activation};
 * Qwen 3 derives its {@code layer_types}; the transformers-5-only keys ({@code use_bidirectional_attention} of Gemma 2,
 * {@code _sliding_window_pattern}) go.
 */
final class LegacyConfigs {
    private static final ObjectMapper JSON = new ObjectMapper();

    private LegacyConfigs() {}

    /** The 4.x form of a transformers-5 config. */
    static ObjectNode toFourX(JsonNode five) {
        ObjectNode c = five.deepCopy();
        String arch = c.path("architectures").get(0).asText();
        if (c.has("dtype")) {
            c.set("torch_dtype", c.remove("dtype"));
        }
        c.put("transformers_version", "4.46.0");
        JsonNode rope = c.remove("rope_parameters");
        if (arch.equals("Gemma3ForCausalLM")) {
            c.set("rope_theta", rope.get("full_attention").get("rope_theta"));
            c.set("rope_local_base_freq", rope.get("sliding_attention").get("rope_theta"));
            c.putNull("rope_scaling");
            c.put("sliding_window_pattern", pattern(c.get("layer_types")));
            c.remove("layer_types");
            c.remove("_sliding_window_pattern");
            c.put("cache_implementation", "hybrid");
            return c;
        }
        ObjectNode scaling = ((ObjectNode) rope).deepCopy();
        c.set("rope_theta", scaling.remove("rope_theta"));
        scaling.remove("partial_rotary_factor");
        String type = scaling.remove("rope_type").asText();
        if (arch.equals("Phi3ForCausalLM")) {
            scaling.remove("original_max_position_embeddings");
        }
        if (type.equals("default")) {
            c.putNull("rope_scaling");
        } else {
            ObjectNode typed = JSON.createObjectNode();
            typed.put(arch.equals("Phi3ForCausalLM") ? "type" : "rope_type", type);
            typed.setAll(scaling);
            c.set("rope_scaling", typed);
        }
        switch (arch) {
            case "Gemma2ForCausalLM" -> {
                c.remove("layer_types");
                c.remove("use_bidirectional_attention");
                c.set("hidden_act", c.get("hidden_activation"));
                c.put("cache_implementation", "hybrid");
            }
            case "Qwen3ForCausalLM" -> c.remove("layer_types");
            default -> { }
        }
        return c;
    }

    /** The smallest {@code sliding_window_pattern} p whose rule (layer i is full iff (i + 1) % p == 0) gives the types. */
    private static int pattern(JsonNode layerTypes) {
        for (int p = 1; p <= layerTypes.size() + 1; p++) {
            boolean ok = true;
            for (int i = 0; i < layerTypes.size(); i++) {
                boolean full = (i + 1) % p == 0;
                ok &= full == layerTypes.get(i).asText().equals("full_attention");
            }
            if (ok) {
                return p;
            }
        }
        throw new IllegalArgumentException("no sliding_window_pattern gives " + layerTypes);
    }

    /** A copy of {@code dir} in {@code target} with the 4.x config; every other file a symbolic link to the original. */
    static Path copyAsFourX(Path dir, Path target) {
        try {
            Files.createDirectories(target);
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    if (!f.getFileName().toString().equals("config.json")) {
                        Files.createSymbolicLink(target.resolve(f.getFileName()), f.toAbsolutePath());
                    }
                }
            }
            JsonNode five = JSON.readTree(dir.resolve("config.json").toFile());
            JSON.writerWithDefaultPrettyPrinter().writeValue(target.resolve("config.json").toFile(), toFourX(five));
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The keys of a config, for messages. */
    static List<String> keys(JsonNode c) {
        List<String> out = new java.util.ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = c.fields(); it.hasNext(); ) {
            out.add(it.next().getKey());
        }
        return out;
    }
}
