package dev.coolfusion.djl.model;

import dev.coolfusion.testkit.TinyCheckpoints;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import dev.coolfusion.testkit.TinyCheckpoints.Spec;
import dev.coolfusion.testkit.TinyCheckpoints.WeightType;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.StateHandle;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading and usage errors name the field, tensor or option, its value and what is supported. */
class LoadingErrorsTest {
    @TempDir
    Path tmp;

    private Path write(String name, Spec spec) {
        return TinyCheckpoints.write(tmp.resolve(name), spec);
    }

    private String loadError(Path dir) {
        return loadError(dir, DjlModelOptions.defaults());
    }

    private String loadError(Path dir, DjlModelOptions options) {
        return assertThrows(FusionException.class, () -> DjlSourceModel.load(dir, options).close()).getMessage();
    }

    private static void assertMentions(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "message should mention '" + p + "': " + message);
        }
    }

    @Test
    void unsupportedArchitecture() {
        Path dir = write("gpt2", Spec.tiny(Arch.LLAMA, 1).withConfig("architectures", "[\"GPT2LMHeadModel\"]"));
        assertMentions(loadError(dir), "architectures", "GPT2LMHeadModel", "LlamaForCausalLM", "Phi3ForCausalLM");
    }

    @Test
    void unsupportedRopeType() {
        Path dir = write("yarn", Spec.tiny(Arch.LLAMA, 1).withConfig("rope_scaling", "{\"rope_type\":\"yarn\",\"factor\":4.0}"));
        assertMentions(loadError(dir), "rope_scaling", "yarn", "llama3", "default");
    }

    @Test
    void settingsNotImplementedAreRefusedAtLoad() {
        // More in ConfigKeysTest: every refusal names the key and the value.
        Path capped = write("softcap", Spec.tiny(Arch.LLAMA, 1).withConfig("attn_logit_softcapping", "50.0"));
        assertMentions(loadError(capped), "attn_logit_softcapping", "50.0", "LlamaForCausalLM");
        Path gelu = write("gelu", Spec.tiny(Arch.LLAMA, 1).withConfig("hidden_act", "\"gelu\""));
        assertMentions(loadError(gelu), "hidden_act", "gelu", "silu");
        Path dynamic = write("dynamic", Spec.tiny(Arch.QWEN3, 1).withConfig("rope_scaling", "{\"type\":\"dynamic\","
                + "\"factor\":2.0}"));
        assertMentions(loadError(dynamic), "rope_scaling.type", "dynamic");
        Path quantized = write("gptq", Spec.tiny(Arch.MISTRAL, 1).withConfig("quantization_config",
                "{\"quant_method\":\"gptq\"}"));
        assertMentions(loadError(quantized), "quantization_config", "gptq");
        Path partial = write("partial", Spec.tiny(Arch.PHI3, 1).withConfig("partial_rotary_factor", "0.5"));
        assertMentions(loadError(partial), "partial_rotary_factor", "0.5");
    }

    @Test
    void aSlidingWindowDoesNotLimitTheContext() {
        Path dir = write("window", Spec.tiny(Arch.MISTRAL, 1).withConfig("sliding_window", "8"));
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            assertEquals(256, model.maxContextTokens().getAsInt());
        }
    }

    @Test
    void missingTensor() {
        Path dir = write("missing", Spec.tiny(Arch.QWEN2, 1).without("model.layers.1.self_attn.k_proj.bias"));
        assertMentions(loadError(dir), "model.layers.1.self_attn.k_proj.bias", "missing");
    }

    @Test
    void missingLmHeadWhenNotTied() {
        Path dir = write("nohead", Spec.tiny(Arch.LLAMA, 1).without("lm_head.weight"));
        assertMentions(loadError(dir), "lm_head.weight", "tie_word_embeddings");
    }

    @Test
    void wrongShape() {
        Path dir = write("shape", Spec.tiny(Arch.MISTRAL, 1).withConfig("intermediate_size", "96"));
        assertMentions(loadError(dir), "model.layers.0.mlp.gate_proj.weight", "[128, 64]", "[96, 64]");
    }

    @Test
    void unsupportedTensorDtype() {
        Path dir = write("f64", Spec.tiny(Arch.LLAMA, 1).withWeightType(WeightType.F64));
        assertMentions(loadError(dir), "F64", "model.layers.0", "F32", "BF16", "F16");
    }

    @Test
    void badOptions() {
        assertMentions(assertThrows(FusionException.class, () -> ModelDtype.parse("float64")).getMessage(),
                "float64", "float32", "bfloat16", "float16");
        assertMentions(assertThrows(FusionException.class, () -> DjlModelOptions.builder().device("tpu")).getMessage(),
                "tpu", "cpu", "gpu:N");
        assertMentions(assertThrows(FusionException.class, () -> DjlModelOptions.builder().maxContext(0)).getMessage(),
                "max context");
        Path dir = write("ctx", Spec.tiny(Arch.LLAMA, 1));
        assertMentions(loadError(dir, DjlModelOptions.builder().maxContext(100_000).build()), "100000", "256",
                "max_position_embeddings");
        assertMentions(loadError(dir, DjlModelOptions.builder().device("gpu:7").build()), "gpu:7", "GPU");
        assertMentions(loadError(tmp.resolve("nothing-here")), "nothing-here");
    }

    @Test
    void providerCreatesModelAndNamesBadOptions() {
        Path dir = write("provided", Spec.tiny(Arch.PHI3, 1));
        SourceModelProvider provider = null;
        for (SourceModelProvider p : ServiceLoader.load(SourceModelProvider.class)) {
            if (p.name().equals("djl")) {
                provider = p;
            }
        }
        assertTrue(provider != null, "ServiceLoader finds the djl provider");
        try (SourceModel model = provider.create(ProviderConfig.of("djl",
                Map.of("path", dir.toString(), "name", "phi", "dtype", "float32", "device", "cpu", "max-context", "64")))) {
            assertEquals("phi", model.name());
            assertEquals(64, model.maxContextTokens().getAsInt());
        }
        SourceModelProvider djl = provider;
        assertMentions(assertThrows(FusionException.class, () -> djl.create(ProviderConfig.of("djl", Map.of()))).getMessage(),
                "path");
        assertMentions(assertThrows(FusionException.class,
                () -> djl.create(ProviderConfig.of("djl", Map.of("path", dir.toString(), "dtype", "int8")))).getMessage(),
                "dtype", "int8", "bfloat16");
        assertMentions(assertThrows(FusionException.class,
                () -> djl.create(ProviderConfig.of("djl", Map.of("path", dir.toString(), "max-context", "lots")))).getMessage(),
                "max-context", "lots");
        assertMentions(assertThrows(FusionException.class,
                () -> djl.create(ProviderConfig.of("djl", Map.of("path", dir.toString(), "colour", "red")))).getMessage(),
                "colour", "path");
    }

    @Test
    void contextLimitsAreEnforcedWithoutTruncation() {
        Path dir = write("limit", Spec.tiny(Arch.LLAMA, 1));
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().maxContext(8).build())) {
            List<Integer> nine = new ArrayList<>(Collections.nCopies(9, 5));
            assertMentions(assertThrows(FusionException.class, () -> model.open(nine)).getMessage(), "9", "max context of 8");
            assertMentions(assertThrows(FusionException.class, () -> model.open(List.of())).getMessage(), "empty");
            assertMentions(assertThrows(FusionException.class, () -> model.open(List.of(1, 512))).getMessage(), "512",
                    "vocabulary");
            StateHandle s = model.open(nine.subList(0, 7));
            StateHandle full = model.nextToken(s, Decoding.GREEDY).state();
            assertMentions(assertThrows(FusionException.class, () -> model.nextToken(full, Decoding.GREEDY)).getMessage(),
                    "context is full");
            assertMentions(assertThrows(FusionException.class, () -> model.score(s, List.of(List.of(5, 5)))).getMessage(),
                    "max context");
            model.release(List.of(s, full));
            assertMentions(assertThrows(FusionException.class, () -> model.nextToken(s, Decoding.GREEDY)).getMessage(),
                    "unknown or released");
        }
    }

    @Test
    void halfPrecisionReaderAndWriterAgree() {
        float[] values = {0f, -0f, 1f, -2.5f, 0.0199f, 6.0e-5f, 3.0e-7f, 65504f, -1e-3f};
        for (float v : values) {
            float back = Float.intBitsToFloat(SafetensorsReader.halfToFloatBits(TinyCheckpoints.toFloat16(v) & 0xFFFF));
            assertEquals(v, back, Math.max(Math.abs(v) * 1e-3, 6e-8), "f16 round trip of " + v);
            float bf = Float.intBitsToFloat((TinyCheckpoints.toBfloat16(v) & 0xFFFF) << 16);
            assertEquals(v, bf, Math.abs(v) * 8e-3, "bf16 round trip of " + v);
        }
    }
}
