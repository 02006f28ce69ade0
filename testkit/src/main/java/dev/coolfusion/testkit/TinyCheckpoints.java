package dev.coolfusion.testkit;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Writes seeded random checkpoints in the Hugging Face layout: {@code config.json}, {@code generation_config.json},
 * {@code model.safetensors} (or two shards with {@code model.safetensors.index.json}), a WordLevel
 * {@code tokenizer.json} (ids 0/1/2 are {@code <unk>}/{@code <s>}/{@code </s>}, id i is {@code t<i>}) and
 * {@code tokenizer_config.json}. For tests and benchmarks; the weights mean nothing.
 */
public final class TinyCheckpoints {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Architectures the generator writes, by their Hugging Face class name. The later ones are shaped as their
     * families' checkpoints are: Qwen 3 with per-head q/k norms; GLM with q/k/v biases, a fused gate_up_proj and
     * rotary on half of each head (GLM-4 adds norms of the attention and MLP outputs); Gemma 2 and 3 with four norms a
     * layer ({@code 1 + w}, so their weights are drawn around 0), GELU, sliding window 8 on alternate layers, and
     * Gemma 2's soft-caps (50 and 30) or Gemma 3's q/k norms and local rope base.
     */
    public enum Arch {
        LLAMA("LlamaForCausalLM", "llama"),
        MISTRAL("MistralForCausalLM", "mistral"),
        QWEN2("Qwen2ForCausalLM", "qwen2"),
        PHI3("Phi3ForCausalLM", "phi3"),
        QWEN3("Qwen3ForCausalLM", "qwen3"),
        GLM("GlmForCausalLM", "glm"),
        GLM4("Glm4ForCausalLM", "glm4"),
        GEMMA2("Gemma2ForCausalLM", "gemma2"),
        GEMMA3("Gemma3ForCausalLM", "gemma3_text");

        final String className;
        final String modelType;

        Arch(String className, String modelType) {
            this.className = className;
            this.modelType = modelType;
        }
    }

    /** Element type of the written tensors ({@code F64} exists only to provoke the unsupported-dtype error). */
    public enum WeightType { F32, BF16, F16, F64 }

    /**
     * What to write.
     *
     * @param arch            architecture
     * @param hidden          hidden size
     * @param intermediate    MLP size
     * @param layers          decoder layers
     * @param heads           query heads
     * @param kvHeads         key/value heads
     * @param vocab           vocabulary size (at least 3)
     * @param maxPositions    {@code max_position_embeddings}
     * @param tied            tie_word_embeddings (no lm_head.weight in the file)
     * @param sharded         two shards plus an index instead of one file
     * @param llama3Rope      write llama3 {@code rope_scaling} (theta 500000)
     * @param explicitHeadDim write {@code head_dim} into config.json
     * @param weightType      element type of the tensors
     * @param seed            random seed
     * @param configOverrides extra or replaced config.json fields (JSON values as text, e.g. {@code "\"Foo\""})
     * @param omit            tensor names to leave out
     */
    public record Spec(Arch arch, int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab,
            int maxPositions, boolean tied, boolean sharded, boolean llama3Rope, boolean explicitHeadDim,
            WeightType weightType, long seed, Map<String, String> configOverrides, Set<String> omit) {
        public Spec {
            requireNonNull(arch, "arch is null");
            requireNonNull(weightType, "weightType is null");
            configOverrides = Map.copyOf(requireNonNull(configOverrides, "configOverrides is null"));
            omit = Set.copyOf(requireNonNull(omit, "omit is null"));
            if (hidden % heads != 0 || heads % kvHeads != 0 || vocab < 3) {
                throw new IllegalArgumentException("inconsistent spec: " + hidden + "/" + heads + "/" + kvHeads + "/" + vocab);
            }
        }

        /** A tiny model (hidden 64, 2 layers, 4/2 heads, vocab 512) like the hf-tiny fixtures. */
        public static Spec tiny(Arch arch, long seed) {
            return new Spec(arch, 64, 128, 2, 4, 2, 512, 256, false, false, false, false, WeightType.F32, seed, Map.of(),
                    Set.of());
        }

        /** The ≈1.5M-parameter benchmark shape: Llama, hidden 128, 4 layers, 4/2 heads, vocab 2048. */
        public static Spec llamaSmall() {
            return new Spec(Arch.LLAMA, 128, 512, 4, 4, 2, 2048, 2048, false, false, false, false, WeightType.F32, 6, Map.of(),
                    Set.of());
        }

        /** The ≈56M-parameter benchmark shape: Llama, hidden 512, 8 layers, 8/4 heads, vocab 32000. */
        public static Spec llamaMedium() {
            return new Spec(Arch.LLAMA, 512, 1376, 8, 8, 4, 32000, 2048, false, false, false, false, WeightType.F32, 60,
                    Map.of(), Set.of());
        }

        public Spec withTied(boolean value) {
            return new Spec(arch, hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions, value, sharded, llama3Rope,
                    explicitHeadDim, weightType, seed, configOverrides, omit);
        }

        public Spec withSharded(boolean value) {
            return new Spec(arch, hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions, tied, value, llama3Rope,
                    explicitHeadDim, weightType, seed, configOverrides, omit);
        }

        public Spec withLlama3Rope(boolean value) {
            return new Spec(arch, hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions, tied, sharded, value,
                    true, weightType, seed, configOverrides, omit);
        }

        public Spec withWeightType(WeightType value) {
            return new Spec(arch, hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions, tied, sharded, llama3Rope,
                    explicitHeadDim, value, seed, configOverrides, omit);
        }

        public Spec withConfig(String key, String jsonValue) {
            Map<String, String> m = new LinkedHashMap<>(configOverrides);
            m.put(key, jsonValue);
            return new Spec(arch, hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions, tied, sharded, llama3Rope,
                    explicitHeadDim, weightType, seed, m, omit);
        }

        public Spec without(String tensor) {
            java.util.HashSet<String> o = new java.util.HashSet<>(omit);
            o.add(tensor);
            return new Spec(arch, hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions, tied, sharded, llama3Rope,
                    explicitHeadDim, weightType, seed, configOverrides, o);
        }

        /** Parameters, counting a tied matrix once. */
        public long parameters() {
            long d = hidden / heads;
            long attn = (long) hidden * (heads * d) * 2 + (long) hidden * (kvHeads * d) * 2;
            long mlp = 3L * hidden * intermediate;
            long perLayer = attn + mlp + 2L * hidden;
            return perLayer * layers + (long) vocab * hidden * (tied ? 1 : 2) + hidden;
        }
    }

    private record Tensor(String name, long[] shape, double mean, double std) {}

    private TinyCheckpoints() {}

    /** Writes the checkpoint into {@code dir} (created if needed) and returns {@code dir}. */
    public static Path write(Path dir, Spec spec) {
        requireNonNull(dir, "dir is null");
        requireNonNull(spec, "spec is null");
        try {
            Files.createDirectories(dir);
            writeConfig(dir, spec);
            writeTokenizer(dir, spec.vocab(), spec.maxPositions());
            List<Tensor> tensors = tensors(spec);
            SplittableRandom random = new SplittableRandom(spec.seed());
            if (spec.sharded()) {
                int cut = 0;
                while (cut < tensors.size() && !tensors.get(cut).name().startsWith("model.layers." + (spec.layers() / 2 + spec.layers() % 2) + ".")
                        && !tensors.get(cut).name().equals("model.norm.weight")) {
                    cut++;
                }
                if (cut == 0 || cut == tensors.size()) {
                    cut = tensors.size() / 2;
                }
                String first = "model-00001-of-00002.safetensors";
                String second = "model-00002-of-00002.safetensors";
                long size = writeSafetensors(dir.resolve(first), tensors.subList(0, cut), spec.weightType(), random);
                size += writeSafetensors(dir.resolve(second), tensors.subList(cut, tensors.size()), spec.weightType(), random);
                ObjectNode index = JSON.createObjectNode();
                index.putObject("metadata").put("total_size", size);
                ObjectNode map = index.putObject("weight_map");
                for (int i = 0; i < tensors.size(); i++) {
                    map.put(tensors.get(i).name(), i < cut ? first : second);
                }
                JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("model.safetensors.index.json").toFile(), index);
            } else {
                writeSafetensors(dir.resolve("model.safetensors"), tensors, spec.weightType(), random);
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint to " + dir, e);
        }
    }

    private static List<Tensor> tensors(Spec s) {
        long d = s.hidden() / s.heads();
        long q = s.heads() * d;
        long kv = s.kvHeads() * d;
        List<Tensor> out = new ArrayList<>();
        boolean gemma = s.arch() == Arch.GEMMA2 || s.arch() == Arch.GEMMA3;
        boolean glm = s.arch() == Arch.GLM || s.arch() == Arch.GLM4;
        double norm = gemma ? 0 : 1; // Gemma's norms multiply by 1 + w
        out.add(new Tensor("model.embed_tokens.weight", new long[] {s.vocab(), s.hidden()}, 0, 0.02));
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            out.add(new Tensor(p + "input_layernorm.weight", new long[] {s.hidden()}, norm, 0.1));
            if (s.arch() == Arch.PHI3) {
                out.add(new Tensor(p + "self_attn.qkv_proj.weight", new long[] {q + 2 * kv, s.hidden()}, 0, 0.02));
            } else {
                out.add(new Tensor(p + "self_attn.q_proj.weight", new long[] {q, s.hidden()}, 0, 0.02));
                out.add(new Tensor(p + "self_attn.k_proj.weight", new long[] {kv, s.hidden()}, 0, 0.02));
                out.add(new Tensor(p + "self_attn.v_proj.weight", new long[] {kv, s.hidden()}, 0, 0.02));
                if (s.arch() == Arch.QWEN2 || glm) {
                    out.add(new Tensor(p + "self_attn.q_proj.bias", new long[] {q}, 0, 0.1));
                    out.add(new Tensor(p + "self_attn.k_proj.bias", new long[] {kv}, 0, 0.1));
                    out.add(new Tensor(p + "self_attn.v_proj.bias", new long[] {kv}, 0, 0.1));
                }
                if (s.arch() == Arch.QWEN3 || s.arch() == Arch.GEMMA3) {
                    out.add(new Tensor(p + "self_attn.q_norm.weight", new long[] {d}, norm, 0.1));
                    out.add(new Tensor(p + "self_attn.k_norm.weight", new long[] {d}, norm, 0.1));
                }
            }
            out.add(new Tensor(p + "self_attn.o_proj.weight", new long[] {s.hidden(), q}, 0, 0.02));
            out.add(new Tensor(p + "post_attention_layernorm.weight", new long[] {s.hidden()}, norm, 0.1));
            if (gemma) {
                out.add(new Tensor(p + "pre_feedforward_layernorm.weight", new long[] {s.hidden()}, norm, 0.1));
                out.add(new Tensor(p + "post_feedforward_layernorm.weight", new long[] {s.hidden()}, norm, 0.1));
            }
            if (s.arch() == Arch.GLM4) {
                out.add(new Tensor(p + "post_self_attn_layernorm.weight", new long[] {s.hidden()}, norm, 0.1));
                out.add(new Tensor(p + "post_mlp_layernorm.weight", new long[] {s.hidden()}, norm, 0.1));
            }
            if (s.arch() == Arch.PHI3 || glm) {
                out.add(new Tensor(p + "mlp.gate_up_proj.weight", new long[] {2L * s.intermediate(), s.hidden()}, 0, 0.02));
            } else {
                out.add(new Tensor(p + "mlp.gate_proj.weight", new long[] {s.intermediate(), s.hidden()}, 0, 0.02));
                out.add(new Tensor(p + "mlp.up_proj.weight", new long[] {s.intermediate(), s.hidden()}, 0, 0.02));
            }
            out.add(new Tensor(p + "mlp.down_proj.weight", new long[] {s.hidden(), s.intermediate()}, 0, 0.02));
        }
        out.add(new Tensor("model.norm.weight", new long[] {s.hidden()}, norm, 0.1));
        if (!s.tied()) {
            out.add(new Tensor("lm_head.weight", new long[] {s.vocab(), s.hidden()}, 0, 0.02));
        }
        out.removeIf(t -> s.omit().contains(t.name()));
        return out;
    }

    private static long writeSafetensors(Path file, List<Tensor> tensors, WeightType type, SplittableRandom random)
            throws IOException {
        int elementBytes = switch (type) {
            case F32 -> 4;
            case BF16, F16 -> 2;
            case F64 -> 8;
        };
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (Tensor t : tensors) {
            long n = 1;
            for (long dim : t.shape()) {
                n *= dim;
            }
            ObjectNode node = header.putObject(t.name());
            node.put("dtype", type.name());
            ArrayNode shape = node.putArray("shape");
            for (long dim : t.shape()) {
                shape.add(dim);
            }
            node.putArray("data_offsets").add(offset).add(offset + n * elementBytes);
            offset += n * elementBytes;
        }
        byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(head);
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Tensor t : tensors) {
                long n = 1;
                for (long dim : t.shape()) {
                    n *= dim;
                }
                for (long i = 0; i < n; i++) {
                    if (buf.remaining() < 8) {
                        buf.flip();
                        ch.write(buf);
                        buf.clear();
                    }
                    float v = (float) (t.mean() + t.std() * random.nextGaussian());
                    switch (type) {
                        case F32 -> buf.putFloat(v);
                        case BF16 -> buf.putShort(toBfloat16(v));
                        case F16 -> buf.putShort(toFloat16(v));
                        case F64 -> buf.putDouble(v);
                    }
                }
            }
            buf.flip();
            ch.write(buf);
        }
        return offset;
    }

    /** Round-to-nearest-even float to bfloat16 bits. */
    public static short toBfloat16(float v) {
        int bits = Float.floatToIntBits(v);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** Round-to-nearest-even float to IEEE half bits (finite inputs; overflow becomes infinity). */
    public static short toFloat16(float v) {
        int bits = Float.floatToIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        float abs = Math.abs(v);
        if (abs >= 65520f) {
            return (short) (sign | 0x7C00);
        }
        if (abs < 6.1035156e-5f) { // subnormal half: multiples of 2^-24
            int m = Math.round(abs * 16777216f);
            return (short) (sign | m);
        }
        int exp = ((bits >>> 23) & 0xFF) - 127 + 15;
        int mant = bits & 0x7FFFFF;
        int half = (exp << 10) | (mant >>> 13);
        int rest = mant & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) (sign | half);
    }

    private static void writeConfig(Path dir, Spec s) throws IOException {
        ObjectNode c = JSON.createObjectNode();
        boolean gemma = s.arch() == Arch.GEMMA2 || s.arch() == Arch.GEMMA3;
        c.putArray("architectures").add(s.arch().className);
        c.put("model_type", s.arch().modelType);
        c.put(gemma ? "hidden_activation" : "hidden_act", gemma ? "gelu_pytorch_tanh" : "silu");
        c.put("hidden_size", s.hidden());
        c.put("intermediate_size", s.intermediate());
        c.put("num_hidden_layers", s.layers());
        c.put("num_attention_heads", s.heads());
        c.put("num_key_value_heads", s.kvHeads());
        if (s.explicitHeadDim() || gemma || s.arch() == Arch.QWEN3 || s.arch() == Arch.GLM || s.arch() == Arch.GLM4) {
            c.put("head_dim", s.hidden() / s.heads()); // these families' defaults are not hidden / heads
        }
        c.put("vocab_size", s.vocab());
        c.put("max_position_embeddings", s.maxPositions());
        c.put("rms_norm_eps", 1e-5);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        c.put("tie_word_embeddings", s.tied());
        c.put("torch_dtype", switch (s.weightType()) {
            case F32 -> "float32";
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            case F64 -> "float64";
        });
        if (s.llama3Rope()) {
            c.put("rope_theta", 500000.0);
            ObjectNode r = c.putObject("rope_scaling");
            r.put("rope_type", "llama3");
            r.put("factor", 8.0);
            r.put("low_freq_factor", 1.0);
            r.put("high_freq_factor", 4.0);
            r.put("original_max_position_embeddings", 64);
        } else {
            c.put("rope_theta", 10000.0);
            c.putNull("rope_scaling");
        }
        switch (s.arch()) {
            case MISTRAL -> c.putNull("sliding_window");
            case QWEN2 -> {
                c.put("use_sliding_window", false);
                c.put("sliding_window", s.maxPositions());
            }
            case PHI3 -> {
                c.putNull("sliding_window");
                c.put("original_max_position_embeddings", s.maxPositions());
            }
            case QWEN3 -> {
                c.put("attention_bias", false);
                c.put("use_sliding_window", false);
                c.putNull("sliding_window");
                c.put("max_window_layers", s.layers());
                c.put("rope_theta", 1000000.0);
            }
            case GLM, GLM4 -> {
                c.put("attention_bias", true);
                c.put("partial_rotary_factor", 0.5);
            }
            case GEMMA2, GEMMA3 -> {
                c.put("attention_bias", false);
                c.put("query_pre_attn_scalar", s.hidden() / s.heads());
                c.put("sliding_window", 8);
                if (s.arch() == Arch.GEMMA2) {
                    c.put("attn_logit_softcapping", 50.0);
                    c.put("final_logit_softcapping", 30.0);
                } else {
                    c.putNull("attn_logit_softcapping");
                    c.putNull("final_logit_softcapping");
                    c.put("rope_theta", 1000000.0);
                    c.put("rope_local_base_freq", 10000.0);
                    c.put("sliding_window_pattern", 2);
                }
            }
            default -> {
                c.put("attention_bias", false);
                c.put("mlp_bias", false);
            }
        }
        for (Map.Entry<String, String> e : s.configOverrides().entrySet()) {
            c.set(e.getKey(), JSON.readTree(e.getValue()));
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), c);
        ObjectNode g = JSON.createObjectNode();
        g.put("bos_token_id", 1);
        g.putArray("eos_token_id").add(2);
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("generation_config.json").toFile(), g);
    }

    private static void writeTokenizer(Path dir, int vocab, int maxPositions) throws IOException {
        ObjectNode t = JSON.createObjectNode();
        t.put("version", "1.0");
        t.putNull("truncation");
        t.putNull("padding");
        ArrayNode added = t.putArray("added_tokens");
        String[] specials = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < specials.length; i++) {
            ObjectNode a = added.addObject();
            a.put("id", i);
            a.put("content", specials[i]);
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
        }
        t.putNull("normalizer");
        t.putObject("pre_tokenizer").put("type", "WhitespaceSplit");
        t.putNull("post_processor");
        t.putNull("decoder");
        ObjectNode model = t.putObject("model");
        model.put("type", "WordLevel");
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < vocab; i++) {
            v.put(i < specials.length ? specials[i] : "t" + i, i);
        }
        model.put("unk_token", "<unk>");
        JSON.writeValue(dir.resolve("tokenizer.json").toFile(), t);
        ObjectNode tc = JSON.createObjectNode();
        tc.put("bos_token", "<s>");
        tc.put("eos_token", "</s>");
        tc.put("unk_token", "<unk>");
        tc.put("model_max_length", maxPositions);
        tc.put("tokenizer_class", "PreTrainedTokenizerFast");
        tc.put("clean_up_tokenization_spaces", false);
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer_config.json").toFile(), tc);
    }
}
