package dev.coolfusion.core.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.coolfusion.spi.Alignment;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.SourceFailurePolicy;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Reads a {@link FusionConfig} from YAML (or JSON):
 *
 * <pre>
 * sources:
 *   - provider: djl              # a SourceModelProvider name
 *     options: {path: models/a, name: a}   # provider options; a relative "path" is resolved against this file
 * metric: avg-ppl                # or {provider: bits-per-byte, options: {...}}
 * options:                       # generation defaults, all optional
 *   max-new-tokens: 256
 *   max-new-chars: 100000
 *   stop: ["\n\n"]
 *   max-segment-tokens: 32
 *   segment-choice: shortest     # or longest
 *   alignment: common            # or own (Cool-align)
 *   temperature: 0
 *   top-p: 1
 *   seed: 0
 *   reuse-lookahead: true
 *   reuse-proposer-log-probs: true   # M3 reuses a proposer's own generation log-probs (optimisation 4)
 *   batch-scoring: true          # M3 scores all candidates of a step in one call per source
 *   on-source-failure: fail      # or drop: go on without a source whose call fails
 * </pre>
 *
 * Unknown keys are errors that list the valid ones, so a typo never silently falls back to a default.
 */
public final class FusionConfigLoader {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));
    private static final Set<String> TOP = Set.of("sources", "metric", "options");
    private static final Set<String> COMPONENT = Set.of("provider", "options");
    private static final Set<String> OPTIONS = Set.of("max-new-tokens", "max-new-chars", "stop", "max-segment-tokens",
            "segment-choice", "alignment", "temperature", "top-p", "seed", "reuse-lookahead", "reuse-proposer-log-probs",
            "batch-scoring", "on-source-failure");

    private FusionConfigLoader() {}

    /**
     * The config as YAML that {@link #load} reads back to an equal config: every source with its options, the metric
     * with its options, and every generation option (all of them, so a reader sees the values in force).
     */
    public static String toYaml(FusionConfig config) {
        ObjectNode root = YAML.createObjectNode();
        ArrayNode sources = root.putArray("sources");
        config.sources().forEach(spec -> sources.add(component(spec)));
        root.set("metric", config.metric().options().isEmpty() ? YAML.getNodeFactory().textNode(config.metric().provider())
                : component(config.metric()));
        FusionOptions o = config.options();
        ObjectNode options = root.putObject("options");
        options.put("max-new-tokens", o.maxNewTokens());
        options.put("max-new-chars", o.maxNewChars());
        ArrayNode stop = options.putArray("stop");
        o.stopStrings().forEach(stop::add);
        options.put("max-segment-tokens", o.maxSegmentTokens());
        options.put("segment-choice", o.segmentChoice().name().toLowerCase(Locale.ROOT));
        options.put("alignment", o.alignment().name().toLowerCase(Locale.ROOT));
        options.put("temperature", o.temperature());
        options.put("top-p", o.topP());
        options.put("seed", o.seed());
        options.put("reuse-lookahead", o.reuseLookahead());
        options.put("reuse-proposer-log-probs", o.reuseProposerLogProbs());
        options.put("batch-scoring", o.batchScoring());
        options.put("on-source-failure", o.onSourceFailure().configName());
        try {
            return YAML.writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write a fusion config as YAML", e);
        }
    }

    private static ObjectNode component(ComponentSpec spec) {
        ObjectNode node = YAML.createObjectNode().put("provider", spec.provider());
        ObjectNode options = node.putObject("options");
        spec.options().forEach(options::put);
        return node;
    }

    public static FusionConfig load(Path file) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new FusionException("cannot read fusion config " + file.toAbsolutePath() + ": no such readable file");
        }
        JsonNode root;
        try {
            root = YAML.readTree(file.toFile());
        } catch (IOException e) {
            throw new FusionException("cannot parse fusion config " + file + ": " + e.getMessage(), e);
        }
        Path base = file.toAbsolutePath().getParent();
        return parse(root, base, file.toString());
    }

    static FusionConfig parse(JsonNode root, Path base, String where) {
        if (root == null || !root.isObject()) {
            throw new FusionException(where + ": the config must be a mapping with 'sources', 'metric' and 'options'");
        }
        checkKeys(root, TOP, where);
        JsonNode sources = root.path("sources");
        if (!sources.isArray() || sources.isEmpty()) {
            throw new FusionException(where + ": 'sources' must list at least one source, e.g. "
                    + "sources: [{provider: djl, options: {path: models/a}}]");
        }
        List<ComponentSpec> specs = new ArrayList<>();
        for (int i = 0; i < sources.size(); i++) {
            specs.add(component(sources.get(i), base, where + ": sources[" + i + "]"));
        }
        JsonNode metricNode = root.path("metric");
        ComponentSpec metric = metricNode.isMissingNode() || metricNode.isNull()
                ? ComponentSpec.of(AveragePerplexity.NAME)
                : metricNode.isTextual() ? ComponentSpec.of(metricNode.asText()) : component(metricNode, base, where + ": metric");
        return new FusionConfig(specs, metric, options(root.path("options"), where + ": options"));
    }

    private static ComponentSpec component(JsonNode node, Path base, String where) {
        if (!node.isObject()) {
            throw new FusionException(where + " must be a mapping with 'provider' and 'options'");
        }
        checkKeys(node, COMPONENT, where);
        JsonNode provider = node.path("provider");
        if (!provider.isTextual() || provider.asText().isBlank()) {
            throw new FusionException(where + " needs 'provider', the name of a registered provider (see 'cool-fusion providers')");
        }
        Map<String, String> options = new LinkedHashMap<>();
        JsonNode opts = node.path("options");
        if (!opts.isMissingNode() && !opts.isNull()) {
            if (!opts.isObject()) {
                throw new FusionException(where + ".options must be a mapping of option names to values");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = opts.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getValue().isContainerNode()) {
                    throw new FusionException(where + ".options." + e.getKey() + " must be a plain value");
                }
                String value = e.getValue().asText();
                if (e.getKey().equals("path") && base != null && !Path.of(value).isAbsolute()) {
                    value = base.resolve(value).normalize().toString();
                }
                options.put(e.getKey(), value);
            }
        }
        return ComponentSpec.of(provider.asText(), options);
    }

    private static FusionOptions options(JsonNode node, String where) {
        FusionOptions.Builder b = FusionOptions.builder();
        if (node.isMissingNode() || node.isNull()) {
            return b.build();
        }
        if (!node.isObject()) {
            throw new FusionException(where + " must be a mapping");
        }
        checkKeys(node, OPTIONS, where);
        try {
            if (node.has("max-new-tokens")) b.maxNewTokens(integer(node, "max-new-tokens", where));
            if (node.has("max-new-chars")) b.maxNewChars(integer(node, "max-new-chars", where));
            if (node.has("max-segment-tokens")) b.maxSegmentTokens(integer(node, "max-segment-tokens", where));
            if (node.has("temperature")) b.temperature(number(node, "temperature", where));
            if (node.has("top-p")) b.topP(number(node, "top-p", where));
            if (node.has("seed")) b.seed(longInteger(node, "seed", where));
            if (node.has("reuse-lookahead")) b.reuseLookahead(bool(node, "reuse-lookahead", where));
            if (node.has("reuse-proposer-log-probs")) b.reuseProposerLogProbs(bool(node, "reuse-proposer-log-probs", where));
            if (node.has("batch-scoring")) b.batchScoring(bool(node, "batch-scoring", where));
            if (node.has("on-source-failure")) {
                JsonNode v = node.get("on-source-failure");
                if (!v.isTextual()) {
                    throw new FusionException(where + ".on-source-failure must be 'fail' or 'drop', got " + v);
                }
                try {
                    b.onSourceFailure(SourceFailurePolicy.fromConfigName(v.asText()));
                } catch (IllegalArgumentException e) {
                    throw new FusionException(where + ".on-source-failure: " + e.getMessage(), e);
                }
            }
            if (node.has("segment-choice")) b.segmentChoice(enumValue(SegmentChoice.class, node, "segment-choice", where));
            if (node.has("alignment")) b.alignment(enumValue(Alignment.class, node, "alignment", where));
            if (node.has("stop")) {
                JsonNode stop = node.get("stop");
                List<String> stops = new ArrayList<>();
                if (stop.isTextual()) {
                    stops.add(stop.asText());
                } else if (stop.isArray()) {
                    stop.forEach(s -> stops.add(s.asText()));
                } else {
                    throw new FusionException(where + ".stop must be a string or a list of strings");
                }
                b.stopStrings(stops);
            }
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new FusionException(where + ": " + e.getMessage(), e);
        }
    }

    private static int integer(JsonNode node, String key, String where) {
        JsonNode v = node.get(key);
        if (!v.canConvertToInt()) {
            throw new FusionException(where + "." + key + " must be an integer, got " + v);
        }
        return v.asInt();
    }

    private static boolean bool(JsonNode node, String key, String where) {
        JsonNode v = node.get(key);
        if (!v.isBoolean()) {
            throw new FusionException(where + "." + key + " must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    private static long longInteger(JsonNode node, String key, String where) {
        JsonNode v = node.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new FusionException(where + "." + key + " must be an integer, got " + v);
        }
        return v.asLong();
    }

    private static double number(JsonNode node, String key, String where) {
        JsonNode v = node.get(key);
        if (!v.isNumber()) {
            throw new FusionException(where + "." + key + " must be a number, got " + v);
        }
        return v.asDouble();
    }

    private static <E extends Enum<E>> E enumValue(Class<E> type, JsonNode node, String key, String where) {
        String v = node.get(key).asText();
        try {
            return Enum.valueOf(type, v.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            List<String> valid = new ArrayList<>();
            for (E c : type.getEnumConstants()) {
                valid.add(c.name().toLowerCase(Locale.ROOT));
            }
            throw new FusionException(where + "." + key + " must be one of " + valid + ", got '" + v + "'");
        }
    }

    private static void checkKeys(JsonNode node, Set<String> valid, String where) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!valid.contains(key)) {
                throw new FusionException(where + ": unknown key '" + key + "'; valid keys: " + new java.util.TreeSet<>(valid));
            }
        }
    }
}
