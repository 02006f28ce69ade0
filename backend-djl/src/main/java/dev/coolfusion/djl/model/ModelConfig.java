package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.Set;

/**
 * The parts of a Hugging Face {@code config.json} the forward pass needs, validated, as transformers 5.17 reads them
 * (its per-architecture defaults included). Both config formats are read and give the same model: transformers 5's
 * {@code rope_parameters} (Gemma 3: one dict per layer type) and {@code dtype}, and transformers 4.x's top-level
 * {@code rope_theta} and {@code rope_scaling} (with {@code rope_type} or the older {@code type}), {@code torch_dtype},
 * and Gemma 3's {@code rope_local_base_freq} and {@code sliding_window_pattern}. Keys the loader neither implements nor
 * knows to be without effect are refused unless neutral ({@link ConfigKeys}).
 *
 * @param architecture          the supported architecture
 * @param hiddenSize            model width
 * @param intermediateSize      MLP width
 * @param numLayers             decoder layers
 * @param numHeads              query heads
 * @param numKvHeads            key/value heads (grouped-query attention when fewer than query heads)
 * @param headDim               width of one head
 * @param vocabSize             rows of the embedding and the output projection
 * @param rmsNormEps            RMSNorm epsilon
 * @param rope                  rotary settings of full-attention layers (of every layer but Gemma 3's sliding ones)
 * @param slidingRope           rotary settings of sliding-window layers (Gemma 3's local base; else {@code rope})
 * @param maxPositions          {@code max_position_embeddings}: the longest context
 * @param slidingWindow         the window w of sliding layers (a query at p sees keys p - w + 1 .. p), if any slides
 * @param slidingLayers         per layer, whether it attends through the sliding window
 * @param tieWordEmbeddings     whether the output projection is the embedding matrix
 * @param qkvBias               whether q/k/v projections have biases
 * @param outputBias            whether o_proj has a bias
 * @param queryPreAttnScalar    attention scores are scaled by its {@code ^-0.5} (head_dim, or Gemma's setting)
 * @param attnLogitSoftcapping  scores become {@code cap * tanh(scores / cap)} (Gemma), if present
 * @param finalLogitSoftcapping logits become {@code cap * tanh(logits / cap)} (Gemma 2), if present
 */
record ModelConfig(
        Architecture architecture,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        double rmsNormEps,
        Rope rope,
        Rope slidingRope,
        int maxPositions,
        OptionalInt slidingWindow,
        List<Boolean> slidingLayers,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        double queryPreAttnScalar,
        OptionalDouble attnLogitSoftcapping,
        OptionalDouble finalLogitSoftcapping) {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FULL = "full_attention";
    private static final String SLIDING = "sliding_attention";

    /** The architectures this backend runs, by their {@code architectures} name and {@code model_type}. */
    enum Architecture {
        LLAMA("LlamaForCausalLM", "llama"),
        MISTRAL("MistralForCausalLM", "mistral"),
        QWEN2("Qwen2ForCausalLM", "qwen2"),
        PHI3("Phi3ForCausalLM", "phi3"),
        GLM("GlmForCausalLM", "glm"),
        GLM4("Glm4ForCausalLM", "glm4"),
        QWEN3("Qwen3ForCausalLM", "qwen3"),
        GEMMA2("Gemma2ForCausalLM", "gemma2"),
        GEMMA3("Gemma3ForCausalLM", "gemma3_text");

        final String hfName;
        final String modelType;

        Architecture(String hfName, String modelType) {
            this.hfName = hfName;
            this.modelType = modelType;
        }

        static List<String> names() {
            List<String> names = new ArrayList<>();
            for (Architecture a : values()) {
                names.add(a.hfName);
            }
            return names;
        }

        /** Gemma 2 and 3: {@code (1 + w)} norms, embeddings scaled by sqrt(hidden), GELU (tanh), four norms a layer. */
        boolean gemma() {
            return this == GEMMA2 || this == GEMMA3;
        }

        /** One {@code qkv_proj} matrix in the checkpoint (Phi-3). */
        boolean fusedQkv() {
            return this == PHI3;
        }

        /** One {@code gate_up_proj} matrix in the checkpoint (Phi-3, GLM). */
        boolean fusedGateUp() {
            return this == PHI3 || this == GLM || this == GLM4;
        }

        /** Per-head RMSNorm of queries and keys before the rotary ({@code q_norm}, {@code k_norm}). */
        boolean qkNorm() {
            return this == QWEN3 || this == GEMMA3;
        }

        /** Norms of the attention output and of the MLP output before their residual adds (GLM-4, Gemma). */
        boolean postNorms() {
            return this == GLM4 || gemma();
        }

        /** The RoPE pairs dimension i with i + 1 (GLM) instead of i with i + rotary_dim / 2. */
        boolean interleavedRope() {
            return this == GLM || this == GLM4;
        }
    }

    /**
     * Rotary position embedding of one kind of layer.
     *
     * @param theta     the base
     * @param rotaryDim the leading dimensions of each head that rotate (head_dim times partial_rotary_factor); the rest
     *                  pass through
     * @param interleaved pairs (2i, 2i + 1) rotate (GLM) instead of (i, i + rotaryDim / 2)
     * @param llama3    Llama 3 frequency scaling, or null
     * @param longRope  Phi-3 longrope, or null
     */
    record Rope(double theta, int rotaryDim, boolean interleaved, Llama3Scaling llama3, LongRope longRope) {
        /** The inverse frequencies in float32 as transformers computes them; with longrope, its short or long ones. */
        float[] inverseFrequencies(boolean longFactors) {
            int half = rotaryDim / 2;
            float[] inv = new float[half];
            for (int i = 0; i < half; i++) {
                float exponent = (float) (2 * i) / (float) rotaryDim;
                inv[i] = (float) (1.0 / (float) Math.pow(theta, exponent));
            }
            if (llama3 != null) {
                double oldLen = llama3.originalMaxPositions();
                double lowWavelen = oldLen / llama3.lowFreqFactor();
                double highWavelen = oldLen / llama3.highFreqFactor();
                float factor = (float) llama3.factor();
                for (int i = 0; i < half; i++) {
                    float wavelen = (float) (2 * Math.PI / inv[i]);
                    float scaled = wavelen > lowWavelen ? inv[i] / factor : inv[i];
                    boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
                    if (medium) {
                        float smooth = (float) ((oldLen / wavelen - llama3.lowFreqFactor())
                                / (llama3.highFreqFactor() - llama3.lowFreqFactor()));
                        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
                    }
                    inv[i] = scaled;
                }
            }
            if (longRope != null) {
                List<Double> ext = longFactors ? longRope.longFactor() : longRope.shortFactor();
                for (int i = 0; i < half; i++) {
                    float exponent = (float) (2 * i) / (float) rotaryDim;
                    inv[i] = (float) (1.0 / (ext.get(i).floatValue() * (float) Math.pow(theta, exponent)));
                }
            }
            return inv;
        }

        /** What cos and sin are multiplied by (longrope's attention factor; else 1). */
        double attentionFactor() {
            return longRope == null ? 1.0 : longRope.attentionFactor();
        }
    }

    /** Llama 3 RoPE frequency scaling ({@code rope_type = "llama3"}). */
    record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {}

    /**
     * Phi-3 longrope: {@code short_factor} while a forward's sequence is at most {@code originalMaxPositions} long,
     * {@code long_factor} beyond; cos and sin times {@code attentionFactor} either way.
     */
    record LongRope(List<Double> shortFactor, List<Double> longFactor, int originalMaxPositions, double attentionFactor) {
        LongRope {
            shortFactor = List.copyOf(shortFactor);
            longFactor = List.copyOf(longFactor);
        }
    }

    ModelConfig {
        requireNonNull(architecture, "architecture is null");
        requireNonNull(rope, "rope is null");
        requireNonNull(slidingRope, "slidingRope is null");
        requireNonNull(slidingWindow, "slidingWindow is null");
        slidingLayers = List.copyOf(slidingLayers);
        requireNonNull(attnLogitSoftcapping, "attnLogitSoftcapping is null");
        requireNonNull(finalLogitSoftcapping, "finalLogitSoftcapping is null");
    }

    int groupSize() {
        return numHeads / numKvHeads;
    }

    /** All projected heads: queries, keys and values. */
    int projectedHeads() {
        return numHeads + 2 * numKvHeads;
    }

    /** Whether any layer attends through a sliding window. */
    boolean hasSlidingLayers() {
        return slidingLayers.contains(true);
    }

    /** The longrope settings, if the model uses longrope (Phi-3), else null. */
    LongRope longRope() {
        return rope.longRope();
    }

    static ModelConfig read(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new FusionException("no config.json in " + dir.toAbsolutePath()
                    + ": give a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)");
        }
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new FusionException("cannot parse " + file.toAbsolutePath() + ": " + e.getMessage(), e);
        }
        return parse(root, file.toString());
    }

    static ModelConfig parse(JsonNode root, String source) {
        Fields c = new Fields(root, source);
        Architecture arch = architecture(root, source);
        if (root.hasNonNull("model_type") && !root.get("model_type").asText().equals(arch.modelType)) {
            throw new FusionException(source + ": field 'model_type' is " + root.get("model_type") + " but "
                    + arch.hfName + " is model_type '" + arch.modelType + "' (transformers picks the class by"
                    + " model_type)");
        }
        ConfigKeys.check(root, arch, source);

        // Activation: SiLU, or Gemma's tanh-approximated GELU.
        if (arch.gemma()) {
            c.requireText("hidden_activation", "gelu_pytorch_tanh", "gelu_pytorch_tanh");
        } else {
            c.requireText("hidden_act", "silu", "silu");
        }

        // Shape, with transformers' per-architecture defaults where a shape field may be left out.
        int hidden = c.positive("hidden_size");
        int heads = c.positive("num_attention_heads");
        int kvHeads = c.has("num_key_value_heads") ? c.positive("num_key_value_heads") : switch (arch) {
            case MISTRAL -> 8;
            case QWEN2, QWEN3 -> 32;
            case GLM, GLM4 -> 2;
            case GEMMA2, GEMMA3 -> 4;
            default -> heads;
        };
        if (heads % kvHeads != 0) {
            throw new FusionException(source + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads "
                    + kvHeads);
        }
        int headDim;
        if (c.has("head_dim")) {
            headDim = c.positive("head_dim");
        } else {
            headDim = switch (arch) {
                case GLM, GLM4, QWEN3 -> 128;
                case GEMMA2, GEMMA3 -> 256;
                default -> {
                    if (hidden % heads != 0) {
                        throw new FusionException(source + ": hidden_size " + hidden + " is not a multiple of"
                                + " num_attention_heads " + heads + " and there is no head_dim");
                    }
                    yield hidden / heads;
                }
            };
        }
        if (headDim % 2 != 0) {
            throw new FusionException(source + ": field 'head_dim' is " + headDim + "; RoPE needs an even head_dim");
        }
        int layers = c.positive("num_hidden_layers");
        double eps = c.number("rms_norm_eps", switch (arch) {
            case PHI3 -> 1e-5;
            case GLM, GLM4 -> 1.5625e-7;
            default -> 1e-6;
        });
        int maxPositions = c.has("max_position_embeddings") ? c.positive("max_position_embeddings") : switch (arch) {
            case LLAMA -> 2048;
            case MISTRAL, GLM, GLM4, GEMMA3 -> 131072;
            case QWEN2, QWEN3 -> 32768;
            case PHI3 -> 4096;
            case GEMMA2 -> 8192;
        };
        boolean tied = c.bool("tie_word_embeddings", arch.gemma());

        // Biases of the attention projections.
        boolean qkvBias;
        boolean outputBias;
        switch (arch) {
            case LLAMA -> {
                if (c.bool("mlp_bias", false)) {
                    throw c.unsupported("mlp_bias", "[false]");
                }
                qkvBias = outputBias = c.bool("attention_bias", false);
            }
            case QWEN2 -> {
                qkvBias = true;
                outputBias = false;
            }
            case MISTRAL, PHI3 -> qkvBias = outputBias = false;
            case GLM, GLM4 -> {
                qkvBias = c.bool("attention_bias", true);
                outputBias = false;
            }
            default -> qkvBias = outputBias = c.bool("attention_bias", false);
        }

        // Which layers slide, and the window.
        Integer window = switch (arch) {
            case MISTRAL, GEMMA2, GEMMA3 -> c.optionalPositive("sliding_window", 4096);
            case PHI3 -> c.optionalPositive("sliding_window", null);
            case QWEN2, QWEN3 -> c.bool("use_sliding_window", false) ? c.optionalPositive("sliding_window", 4096) : null;
            default -> null;
        };
        List<Boolean> sliding = slidingLayers(c, arch, layers, window);
        if (window == null && sliding.contains(true)) {
            throw new FusionException(source + ": field 'layer_types' names sliding_attention layers but there is no"
                    + " sliding window (sliding_window is null" + (arch == Architecture.QWEN2 || arch == Architecture.QWEN3
                    ? " or use_sliding_window is false" : "") + ")");
        }
        if (!sliding.contains(true)) {
            window = null;
        }

        // Gemma's attention settings.
        double queryScalar = headDim;
        OptionalDouble attnCap = OptionalDouble.empty();
        OptionalDouble finalCap = OptionalDouble.empty();
        if (arch.gemma()) {
            queryScalar = c.number("query_pre_attn_scalar", 256);
            if (!(queryScalar > 0)) {
                throw c.unsupported("query_pre_attn_scalar", "a number > 0");
            }
            Double defaultCap = arch == Architecture.GEMMA2 ? 50.0 : null;
            attnCap = c.optionalPositiveNumber("attn_logit_softcapping", defaultCap);
            finalCap = c.optionalPositiveNumber("final_logit_softcapping", arch == Architecture.GEMMA2 ? 30.0 : null);
            if (c.bool("use_bidirectional_attention", false)) {
                throw c.unsupported("use_bidirectional_attention", "[false, null] (causal attention)");
            }
        }

        // Rotary settings, from either config format.
        Rope[] ropes = RopeReader.read(c, arch, headDim, maxPositions);
        return new ModelConfig(arch, hidden, c.positive("intermediate_size"), layers, heads, kvHeads, headDim,
                c.positive("vocab_size"), eps, ropes[0], ropes[1], maxPositions,
                window == null ? OptionalInt.empty() : OptionalInt.of(window), sliding, tied, qkvBias, outputBias,
                queryScalar, attnCap, finalCap);
    }

    private static Architecture architecture(JsonNode root, String source) {
        JsonNode archs = root.path("architectures");
        String archName = archs.isArray() && archs.size() > 0 ? archs.get(0).asText() : null;
        for (Architecture a : Architecture.values()) {
            if (a.hfName.equals(archName)) {
                return a;
            }
        }
        throw new FusionException(source + ": field 'architectures' is " + (archs.isMissingNode() ? "missing" : archs)
                + "; supported values: " + Architecture.names());
    }

    /** {@code layer_types} if given, else transformers' rule for the architecture. */
    private static List<Boolean> slidingLayers(Fields c, Architecture arch, int layers, Integer window) {
        JsonNode types = c.root.path("layer_types");
        if (types.isArray()) {
            if (types.size() != layers) {
                throw new FusionException(c.source + ": field 'layer_types' has " + types.size() + " entries for "
                        + layers + " layers");
            }
            List<Boolean> out = new ArrayList<>();
            for (JsonNode t : types) {
                String type = t.asText();
                if (!type.equals(FULL) && !type.equals(SLIDING)) {
                    throw new FusionException(c.source + ": field 'layer_types' has '" + type + "'; supported values: ["
                            + FULL + ", " + SLIDING + "]");
                }
                out.add(type.equals(SLIDING));
            }
            return out;
        }
        List<Boolean> out = new ArrayList<>();
        switch (arch) {
            case MISTRAL, PHI3 -> out.addAll(Collections.nCopies(layers, window != null));
            case QWEN2, QWEN3 -> {
                int first = c.has("max_window_layers") ? c.nonNegative("max_window_layers") : 28;
                for (int i = 0; i < layers; i++) {
                    out.add(window != null && i >= first);
                }
            }
            case GEMMA2 -> {
                for (int i = 0; i < layers; i++) {
                    out.add((i + 1) % 2 != 0);
                }
            }
            case GEMMA3 -> {
                int pattern = c.has("sliding_window_pattern") ? c.positive("sliding_window_pattern") : 6;
                for (int i = 0; i < layers; i++) {
                    out.add((i + 1) % pattern != 0);
                }
            }
            default -> out.addAll(Collections.nCopies(layers, false));
        }
        return out;
    }

    /** Typed access to config fields, with errors that name the field, its value and what is supported. */
    static final class Fields {
        final JsonNode root;
        final String source;

        Fields(JsonNode root, String source) {
            this.root = root;
            this.source = source;
        }

        boolean has(String key) {
            return root.hasNonNull(key);
        }

        int positive(String key) {
            return positive(root, key, key);
        }

        int positive(JsonNode node, String key, String label) {
            JsonNode n = node.path(key);
            if (!n.canConvertToInt() || !n.isIntegralNumber() && n.asDouble() != n.asInt() || n.asInt() <= 0) {
                throw new FusionException(source + ": field '" + label + "' must be a positive integer, got "
                        + (n.isMissingNode() ? "nothing" : n.toString()));
            }
            return n.asInt();
        }

        int nonNegative(String key) {
            JsonNode n = root.path(key);
            if (!n.canConvertToInt() || n.asInt() < 0) {
                throw new FusionException(source + ": field '" + key + "' must be an integer >= 0, got " + n);
            }
            return n.asInt();
        }

        Integer optionalPositive(String key, Integer dflt) {
            if (!root.has(key)) {
                return dflt;
            }
            return root.get(key).isNull() ? null : positive(key);
        }

        double number(String key, double dflt) {
            return number(root, key, key, dflt);
        }

        double number(JsonNode node, String key, String label, double dflt) {
            JsonNode n = node.path(key);
            if (n.isMissingNode() || n.isNull()) {
                return dflt;
            }
            if (!n.isNumber()) {
                throw new FusionException(source + ": field '" + label + "' must be a number, got " + n);
            }
            return n.asDouble();
        }

        OptionalDouble optionalPositiveNumber(String key, Double dflt) {
            JsonNode n = root.path(key);
            if (n.isMissingNode()) {
                return dflt == null ? OptionalDouble.empty() : OptionalDouble.of(dflt);
            }
            if (n.isNull()) {
                return OptionalDouble.empty();
            }
            if (!n.isNumber() || !(n.asDouble() > 0)) {
                throw unsupported(key, "a number > 0 or null");
            }
            return OptionalDouble.of(n.asDouble());
        }

        boolean bool(String key, boolean dflt) {
            JsonNode n = root.path(key);
            if (n.isMissingNode() || n.isNull()) {
                return dflt;
            }
            if (!n.isBoolean()) {
                throw new FusionException(source + ": field '" + key + "' must be true or false, got " + n);
            }
            return n.asBoolean();
        }

        void requireText(String key, String dflt, String supported) {
            String v = root.hasNonNull(key) ? root.get(key).asText() : dflt;
            if (!v.equals(supported)) {
                throw new FusionException(source + ": field '" + key + "' is '" + v + "'; supported values: ["
                        + supported + "]");
            }
        }

        FusionException unsupported(String key, String supported) {
            return unsupported(key, root.path(key), supported);
        }

        FusionException unsupported(String label, JsonNode value, String supported) {
            return new FusionException(source + ": field '" + label + "' is " + value + "; supported values: " + supported);
        }
    }

    /**
     * RoPE settings as transformers 5.17 standardises them: the rope dict is {@code rope_scaling} if non-empty (4.x),
     * else {@code rope_parameters} (5.x); {@code rope_theta} and {@code partial_rotary_factor} from the top level fill
     * what it lacks; {@code type} is the older name of {@code rope_type}. Gemma 3 has a dict per layer type (5.x) or
     * {@code rope_scaling} for the full-attention layers with {@code rope_theta} (default 1e6) and
     * {@code rope_local_base_freq} (default 1e4) for the sliding ones (4.x).
     */
    private static final class RopeReader {
        private static final Set<String> DEFAULT_KEYS = Set.of("rope_type", "type", "rope_theta", "partial_rotary_factor");
        private static final Set<String> LLAMA3_KEYS = Set.of("factor", "low_freq_factor", "high_freq_factor",
                "original_max_position_embeddings");
        private static final Set<String> LONGROPE_KEYS = Set.of("short_factor", "long_factor",
                "original_max_position_embeddings", "attention_factor", "factor");

        static Rope[] read(Fields c, Architecture arch, int headDim, int maxPositions) {
            JsonNode scaling = c.root.path("rope_scaling");
            JsonNode params = c.root.path("rope_parameters");
            boolean fromScaling = scaling.isObject() && scaling.size() > 0;
            if (arch == Architecture.GEMMA3) {
                JsonNode full;
                JsonNode local;
                if (!fromScaling && params.isObject() && (params.has(FULL) || params.has(SLIDING))) {
                    full = params.path(FULL);
                    local = params.path(SLIDING);
                    return new Rope[] {
                        rope(c, arch, full, "rope_parameters." + FULL, headDim, maxPositions,
                                c.number("rope_theta", 1e6)),
                        rope(c, arch, local, "rope_parameters." + SLIDING, headDim, maxPositions,
                                c.number("rope_local_base_freq", 1e4))};
                }
                if (params.isObject() && params.size() > 0 && !fromScaling) {
                    throw new FusionException(c.source + ": field 'rope_parameters' of Gemma3ForCausalLM must have one"
                            + " dict per layer type ('" + FULL + "', '" + SLIDING + "'), got " + params);
                }
                Rope global = rope(c, arch, fromScaling ? scaling : NullNode.getInstance(), "rope_scaling", headDim,
                        maxPositions, c.number("rope_theta", 1e6));
                Rope localRope = rope(c, arch, NullNode.getInstance(), "rope_local_base_freq", headDim, maxPositions,
                        c.number("rope_local_base_freq", 1e4));
                return new Rope[] {global, localRope};
            }
            if (params.isObject() && (params.has(FULL) || params.has(SLIDING))) {
                throw new FusionException(c.source + ": field 'rope_parameters' has per-layer-type dicts, which "
                        + arch.hfName + " does not use: " + params);
            }
            JsonNode dict = fromScaling ? scaling : params;
            String label = fromScaling ? "rope_scaling" : "rope_parameters";
            Rope r = rope(c, arch, dict, label, headDim, maxPositions, c.number("rope_theta", 10000.0));
            return new Rope[] {r, r};
        }

        private static Rope rope(Fields c, Architecture arch, JsonNode dict, String label, int headDim, int maxPositions,
                double defaultTheta) {
            if (!dict.isMissingNode() && !dict.isNull() && !dict.isObject()) {
                throw new FusionException(c.source + ": field '" + label + "' must be an object or null, got " + dict);
            }
            JsonNode d = dict.isObject() ? dict : NullNode.getInstance();
            String type = d.hasNonNull("rope_type") ? d.get("rope_type").asText() : d.path("type").asText("default");
            String typeKey = label + (d.hasNonNull("rope_type") ? ".rope_type" : ".type");
            if (arch == Architecture.PHI3 && (type.equals("su") || type.equals("yarn"))) {
                type = "longrope"; // transformers reads Phi-3's older names as longrope
            }
            Set<String> allowed = switch (type) {
                case "default" -> Set.of();
                case "llama3" -> {
                    if (arch == Architecture.PHI3) {
                        throw c.unsupported(typeKey, d.path(d.hasNonNull("rope_type") ? "rope_type" : "type"),
                                "[default, longrope] for " + arch.hfName);
                    }
                    yield LLAMA3_KEYS;
                }
                case "longrope" -> {
                    if (arch != Architecture.PHI3) {
                        throw c.unsupported(typeKey, d.path(d.hasNonNull("rope_type") ? "rope_type" : "type"),
                                "[default, llama3] for " + arch.hfName + " (longrope is implemented for Phi3ForCausalLM)");
                    }
                    yield LONGROPE_KEYS;
                }
                default -> throw c.unsupported(typeKey, d.path(d.hasNonNull("rope_type") ? "rope_type" : "type"),
                        arch == Architecture.PHI3 ? "[default, longrope] (or " + label + " null)"
                                : "[default, llama3] (or " + label + " null)");
            };
            for (Iterator<Map.Entry<String, JsonNode>> it = d.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!DEFAULT_KEYS.contains(e.getKey()) && !allowed.contains(e.getKey()) && !e.getValue().isNull()) {
                    throw new FusionException(c.source + ": field '" + label + "." + e.getKey() + "' is " + e.getValue()
                            + ", a setting this loader does not implement for rope_type " + type);
                }
            }
            double theta = c.number(d, "rope_theta", label + ".rope_theta", defaultTheta);
            if (!(theta > 0)) {
                throw c.unsupported(label + ".rope_theta", d.path("rope_theta"), "a number > 0");
            }
            // partial_rotary_factor: the dict's, else the top level's (GLM's default is 0.5).
            double partial = c.number(d, "partial_rotary_factor", label + ".partial_rotary_factor",
                    c.number("partial_rotary_factor", arch.interleavedRope() ? 0.5 : 1.0));
            int rotaryDim = (int) (headDim * partial);
            if (partial != 1.0 && !arch.interleavedRope()) {
                throw new FusionException(c.source + ": field 'partial_rotary_factor' is " + partial + "; supported"
                        + " values for " + arch.hfName + ": [1.0] (partial rotary is implemented for GLM)");
            }
            if (!(partial > 0 && partial <= 1) || rotaryDim % 2 != 0 || rotaryDim < 2) {
                throw new FusionException(c.source + ": field 'partial_rotary_factor' is " + partial + ": head_dim "
                        + headDim + " times it must be an even number of at least 2");
            }
            Llama3Scaling llama3 = null;
            LongRope longRope = null;
            if (type.equals("llama3")) {
                for (String key : List.of("factor", "low_freq_factor", "high_freq_factor")) {
                    if (!d.hasNonNull(key)) {
                        throw new FusionException(c.source + ": " + label + " of type llama3 needs field '" + key + "'");
                    }
                }
                int original = d.hasNonNull("original_max_position_embeddings")
                        ? c.positive(d, "original_max_position_embeddings", label + ".original_max_position_embeddings")
                        : maxPositions;
                llama3 = new Llama3Scaling(d.get("factor").asDouble(), d.get("low_freq_factor").asDouble(),
                        d.get("high_freq_factor").asDouble(), original);
            } else if (type.equals("longrope")) {
                // Phi-3's top-level original_max_position_embeddings (default 4096) wins over the dict's.
                int original = c.has("original_max_position_embeddings")
                        ? c.positive("original_max_position_embeddings") : 4096;
                List<Double> shortFactor = factors(c, d, "short_factor", label, rotaryDim / 2);
                List<Double> longFactor = factors(c, d, "long_factor", label, rotaryDim / 2);
                double factor = c.number(d, "factor", label + ".factor", (double) maxPositions / original);
                double attention;
                if (d.hasNonNull("attention_factor")) {
                    attention = c.number(d, "attention_factor", label + ".attention_factor", 1.0);
                } else {
                    attention = factor <= 1.0 ? 1.0 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
                }
                longRope = new LongRope(shortFactor, longFactor, original, attention);
            }
            return new Rope(theta, rotaryDim, arch.interleavedRope(), llama3, longRope);
        }

        private static List<Double> factors(Fields c, JsonNode d, String key, String label, int expected) {
            JsonNode n = d.path(key);
            if (!n.isArray() || n.size() != expected) {
                throw new FusionException(c.source + ": field '" + label + "." + key + "' must be a list of " + expected
                        + " numbers (rotary dim / 2), got " + (n.isMissingNode() ? "nothing" : n.toString()));
            }
            List<Double> out = new ArrayList<>();
            for (JsonNode v : n) {
                if (!v.isNumber() || !(v.asDouble() > 0)) {
                    throw new FusionException(c.source + ": field '" + label + "." + key + "' has " + v
                            + "; factors must be numbers > 0");
                }
                out.add(v.asDouble());
            }
            return out;
        }
    }
}
