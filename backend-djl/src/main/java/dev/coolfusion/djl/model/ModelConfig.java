package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * The parts of a Hugging Face {@code config.json} the forward pass needs, validated.
 *
 * @param architecture        the supported architecture
 * @param hiddenSize          model width
 * @param intermediateSize    MLP width
 * @param numLayers           decoder layers
 * @param numHeads            query heads
 * @param numKvHeads          key/value heads (grouped-query attention when fewer than query heads)
 * @param headDim             width of one head
 * @param vocabSize           rows of the embedding and the output projection
 * @param rmsNormEps          RMSNorm epsilon
 * @param ropeTheta           RoPE base
 * @param llama3              llama3 frequency scaling, or null for plain RoPE
 * @param maxPositions        {@code max_position_embeddings}
 * @param slidingWindow       an attention window that limits the usable context, if the model has one
 * @param tieWordEmbeddings   whether the output projection is the embedding matrix
 * @param qkvBias             whether q/k/v projections have biases
 * @param outputBias          whether o_proj has a bias
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
        double ropeTheta,
        Llama3Scaling llama3,
        int maxPositions,
        OptionalInt slidingWindow,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The architectures this backend runs, by their {@code architectures} name. */
    enum Architecture {
        LLAMA("LlamaForCausalLM"),
        MISTRAL("MistralForCausalLM"),
        QWEN2("Qwen2ForCausalLM"),
        PHI3("Phi3ForCausalLM");

        final String hfName;

        Architecture(String hfName) {
            this.hfName = hfName;
        }

        static List<String> names() {
            List<String> names = new ArrayList<>();
            for (Architecture a : values()) {
                names.add(a.hfName);
            }
            return names;
        }
    }

    /** Llama 3 RoPE frequency scaling ({@code rope_scaling.rope_type = "llama3"}). */
    record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {}

    ModelConfig {
        requireNonNull(architecture, "architecture is null");
        requireNonNull(slidingWindow, "slidingWindow is null");
    }

    int groupSize() {
        return numHeads / numKvHeads;
    }

    /** All projected heads: queries, keys and values. */
    int projectedHeads() {
        return numHeads + 2 * numKvHeads;
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
        JsonNode archs = root.path("architectures");
        String archName = archs.isArray() && archs.size() > 0 ? archs.get(0).asText() : null;
        Architecture arch = null;
        for (Architecture a : Architecture.values()) {
            if (a.hfName.equals(archName)) {
                arch = a;
            }
        }
        if (arch == null) {
            throw new FusionException(source + ": field 'architectures' is " + (archs.isMissingNode() ? "missing" : archs)
                    + "; supported values: " + Architecture.names());
        }
        String act = root.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new FusionException(source + ": field 'hidden_act' is '" + act + "'; supported values: [silu]");
        }
        int hidden = positive(root, "hidden_size", source);
        int heads = positive(root, "num_attention_heads", source);
        int kvHeads = root.hasNonNull("num_key_value_heads") ? positive(root, "num_key_value_heads", source) : heads;
        if (heads % kvHeads != 0) {
            throw new FusionException(source + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads "
                    + kvHeads);
        }
        int headDim;
        if (root.hasNonNull("head_dim")) {
            headDim = positive(root, "head_dim", source);
        } else {
            if (hidden % heads != 0) {
                throw new FusionException(source + ": hidden_size " + hidden + " is not a multiple of num_attention_heads "
                        + heads + " and there is no head_dim");
            }
            headDim = hidden / heads;
        }
        if (headDim % 2 != 0) {
            throw new FusionException(source + ": field 'head_dim' is " + headDim + "; RoPE needs an even head_dim");
        }
        double partial = root.path("partial_rotary_factor").asDouble(1.0);
        if (partial != 1.0) {
            throw new FusionException(source + ": field 'partial_rotary_factor' is " + partial + "; supported values: [1.0]");
        }
        if (root.path("mlp_bias").asBoolean(false)) {
            throw new FusionException(source + ": field 'mlp_bias' is true; supported values: [false]");
        }
        boolean attentionBias = root.path("attention_bias").asBoolean(false);
        boolean qkvBias;
        boolean outputBias;
        switch (arch) {
            case QWEN2 -> {
                qkvBias = true;
                outputBias = false;
            }
            case PHI3 -> {
                qkvBias = false;
                outputBias = false;
                if (attentionBias) {
                    throw new FusionException(source + ": field 'attention_bias' is true; supported values for "
                            + arch.hfName + ": [false]");
                }
            }
            default -> {
                qkvBias = attentionBias;
                outputBias = attentionBias;
            }
        }
        OptionalInt window = OptionalInt.empty();
        boolean windowUsed = switch (arch) {
            case QWEN2 -> root.path("use_sliding_window").asBoolean(false);
            case MISTRAL, PHI3 -> true;
            default -> false;
        };
        if (windowUsed && root.hasNonNull("sliding_window")) {
            window = OptionalInt.of(positive(root, "sliding_window", source));
        }
        return new ModelConfig(
                arch,
                hidden,
                positive(root, "intermediate_size", source),
                positive(root, "num_hidden_layers", source),
                heads,
                kvHeads,
                headDim,
                positive(root, "vocab_size", source),
                root.path("rms_norm_eps").asDouble(1e-6),
                root.path("rope_theta").asDouble(10000.0),
                ropeScaling(root.path("rope_scaling"), source),
                root.hasNonNull("max_position_embeddings") ? positive(root, "max_position_embeddings", source) : 2048,
                window,
                root.path("tie_word_embeddings").asBoolean(false),
                qkvBias,
                outputBias);
    }

    private static Llama3Scaling ropeScaling(JsonNode node, String source) {
        if (node.isMissingNode() || node.isNull()) {
            return null;
        }
        String type = node.hasNonNull("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("default");
        switch (type) {
            case "default":
                return null;
            case "llama3":
                for (String key : List.of("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")) {
                    if (!node.hasNonNull(key)) {
                        throw new FusionException(source + ": rope_scaling of type llama3 needs field '" + key + "'");
                    }
                }
                return new Llama3Scaling(node.get("factor").asDouble(), node.get("low_freq_factor").asDouble(),
                        node.get("high_freq_factor").asDouble(), node.get("original_max_position_embeddings").asInt());
            default:
                throw new FusionException(source + ": field 'rope_scaling.rope_type' is '" + type
                        + "'; supported values: [default, llama3] (or rope_scaling null)");
        }
    }

    private static int positive(JsonNode root, String key, String source) {
        JsonNode node = root.path(key);
        if (!node.canConvertToInt() || node.asInt() <= 0) {
            throw new FusionException(source + ": field '" + key + "' must be a positive integer, got "
                    + (node.isMissingNode() ? "nothing" : node.toString()));
        }
        return node.asInt();
    }

    /** The RoPE inverse frequencies in float32, as Hugging Face computes them (incl. llama3 scaling). */
    float[] inverseFrequencies() {
        int half = headDim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / (float) headDim;
            inv[i] = (float) (1.0 / (float) Math.pow(ropeTheta, exponent));
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
        return inv;
    }
}
