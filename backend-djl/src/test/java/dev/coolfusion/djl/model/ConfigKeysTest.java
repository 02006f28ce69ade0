package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.djl.model.ModelConfig.Architecture;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The loader's config keys against transformers 5.17's configuration classes ({@code hf-config-fields.json}, see
 * {@code src/test/resources/README.md}): every field is implemented or known not to affect inference, the loader's
 * defaults are transformers', settings it does not implement are refused by key and value, and the paper's three
 * models' configs are read.
 */
class ConfigKeysTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> SHAPE = List.of("hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "vocab_size");

    private static JsonNode resource(String name) {
        try (InputStream in = ConfigKeysTest.class.getResourceAsStream("/" + name)) {
            assertNotNull(in, "test resource " + name);
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Architecture arch(String hfName) {
        for (Architecture a : Architecture.values()) {
            if (a.hfName.equals(hfName)) {
                return a;
            }
        }
        throw new AssertionError("no architecture " + hfName);
    }

    private static JsonNode classes() {
        JsonNode fields = resource("hf-config-fields.json");
        assertEquals("5.17.0", fields.get("transformers").asText());
        return fields.get("configs");
    }

    /** transformers' default config of {@code arch}, as a config.json would spell it. */
    private static ObjectNode defaults(String arch) {
        ObjectNode c = classes().get(arch).get("defaults").deepCopy();
        c.putArray("architectures").add(arch);
        return c;
    }

    private static ModelConfig parse(JsonNode config) {
        return ModelConfig.parse(config, "config.json");
    }

    @Test
    void everyFieldOfTransformersConfigClassesIsImplementedOrWithoutEffect() {
        JsonNode classes = classes();
        assertEquals(Architecture.values().length, classes.size(), "one class per architecture");
        List<String> unknown = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = classes.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Architecture a = arch(e.getKey());
            assertEquals(a.modelType, e.getValue().get("model_type").asText());
            for (Iterator<String> keys = e.getValue().get("defaults").fieldNames(); keys.hasNext(); ) {
                String key = keys.next();
                boolean implemented = ConfigKeys.implemented(a).contains(key);
                boolean noEffect = ConfigKeys.noEffect(a).contains(key);
                if (!implemented && !noEffect) {
                    unknown.add(a.hfName + "." + key);
                }
                assertFalse(implemented && noEffect, a.hfName + "." + key + " is in both lists");
            }
        }
        assertEquals(List.of(), unknown, "fields neither implemented nor known to be without effect");
    }

    @Test
    void transformersFourKeysAreAccepted() {
        for (String key : ConfigKeys.FOUR_X) {
            boolean accepted = false;
            for (Architecture a : Architecture.values()) {
                accepted |= ConfigKeys.implemented(a).contains(key) || ConfigKeys.noEffect(a).contains(key);
            }
            assertTrue(accepted, key);
        }
        for (Architecture a : Architecture.values()) {
            for (String key : List.of("rope_theta", "rope_scaling", "torch_dtype")) {
                assertTrue(ConfigKeys.implemented(a).contains(key) || ConfigKeys.noEffect(a).contains(key),
                        a.hfName + " " + key);
            }
        }
    }

    static Stream<String> architectures() {
        return Stream.of(Architecture.values()).map(a -> a.hfName);
    }

    /** A config with only the shape fields gives the model of one with every default written out. */
    @ParameterizedTest
    @MethodSource("architectures")
    void defaultsAreTransformersDefaults(String arch) {
        ObjectNode full = defaults(arch);
        ObjectNode minimal = JSON.createObjectNode();
        minimal.set("architectures", full.get("architectures"));
        for (String key : SHAPE) {
            minimal.set(key, full.get(key));
        }
        assertEquals(parse(full), parse(minimal), arch);
    }

    @Test
    void transformersDefaultsAreReadAsTransformersUsesThem() {
        ModelConfig mistral = parse(defaults("MistralForCausalLM"));
        assertEquals(4096, mistral.slidingWindow().getAsInt());
        assertEquals(List.of(true), new ArrayList<>(new TreeSet<>(mistral.slidingLayers())));
        ModelConfig glm = parse(defaults("GlmForCausalLM"));
        assertEquals(64, glm.rope().rotaryDim());
        assertTrue(glm.rope().interleaved());
        assertEquals(1.5625e-7, glm.rmsNormEps());
        ModelConfig gemma2 = parse(defaults("Gemma2ForCausalLM"));
        assertEquals(50.0, gemma2.attnLogitSoftcapping().getAsDouble());
        assertEquals(30.0, gemma2.finalLogitSoftcapping().getAsDouble());
        assertEquals(256, gemma2.headDim());
        assertEquals(List.of(true, false, true), gemma2.slidingLayers().subList(0, 3));
        ModelConfig gemma3 = parse(defaults("Gemma3ForCausalLM"));
        assertEquals(1e6, gemma3.rope().theta());
        assertEquals(1e4, gemma3.slidingRope().theta());
        assertEquals(List.of(true, true, true, true, true, false), gemma3.slidingLayers().subList(0, 6));
        assertFalse(parse(defaults("Qwen3ForCausalLM")).hasSlidingLayers());
    }

    static Stream<Arguments> refused() {
        return Stream.of(
                Arguments.of("LlamaForCausalLM", "rope_parameters", "{\"rope_type\":\"yarn\",\"factor\":4.0,"
                        + "\"original_max_position_embeddings\":4096,\"rope_theta\":10000.0}",
                        List.of("rope_parameters.rope_type", "yarn", "llama3")),
                Arguments.of("LlamaForCausalLM", "rope_scaling", "{\"type\":\"dynamic\",\"factor\":2.0}",
                        List.of("rope_scaling.type", "dynamic")),
                Arguments.of("Gemma2ForCausalLM", "rope_parameters", "{\"rope_type\":\"linear\",\"factor\":8.0}",
                        List.of("rope_type", "linear")),
                Arguments.of("LlamaForCausalLM", "rope_scaling", "{\"rope_type\":\"longrope\",\"short_factor\":[1.0],"
                        + "\"long_factor\":[1.0]}", List.of("rope_scaling.rope_type", "longrope", "Phi3ForCausalLM")),
                Arguments.of("Phi3ForCausalLM", "rope_scaling", "{\"rope_type\":\"llama3\",\"factor\":8.0,"
                        + "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0}", List.of("llama3", "longrope")),
                Arguments.of("LlamaForCausalLM", "rope_parameters", "{\"rope_type\":\"llama3\",\"factor\":8.0,"
                        + "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"beta_fast\":32}",
                        List.of("rope_parameters.beta_fast", "32")),
                Arguments.of("LlamaForCausalLM", "partial_rotary_factor", "0.5", List.of("partial_rotary_factor", "0.5")),
                Arguments.of("LlamaForCausalLM", "hidden_act", "\"gelu\"", List.of("hidden_act", "gelu", "silu")),
                Arguments.of("Gemma2ForCausalLM", "hidden_activation", "\"gelu\"", List.of("hidden_activation", "gelu")),
                Arguments.of("LlamaForCausalLM", "mlp_bias", "true", List.of("mlp_bias", "true")),
                Arguments.of("MistralForCausalLM", "attention_bias", "true", List.of("attention_bias", "true")),
                Arguments.of("LlamaForCausalLM", "attn_logit_softcapping", "50.0",
                        List.of("attn_logit_softcapping", "50.0", "LlamaForCausalLM")),
                Arguments.of("LlamaForCausalLM", "sliding_window", "4096", List.of("sliding_window", "4096")),
                Arguments.of("Gemma3ForCausalLM", "use_bidirectional_attention", "true",
                        List.of("use_bidirectional_attention", "true")),
                Arguments.of("MistralForCausalLM", "quantization_config", "{\"quant_method\":\"gptq\",\"bits\":4}",
                        List.of("quantization_config", "gptq")),
                Arguments.of("Qwen3ForCausalLM", "attention_sink", "3", List.of("attention_sink", "3")),
                Arguments.of("Qwen2ForCausalLM", "model_type", "\"llama\"", List.of("model_type", "llama", "qwen2")),
                Arguments.of("Qwen3ForCausalLM", "layer_types", "[" + "\"full_attention\",".repeat(31)
                        + "\"chunked_attention\"]", List.of("layer_types", "chunked_attention")));
    }

    @ParameterizedTest
    @MethodSource("refused")
    void settingsNotImplementedAreRefusedByKeyAndValue(String arch, String key, String value, List<String> mention)
            throws IOException {
        ObjectNode c = defaults(arch);
        c.set(key, JSON.readTree(value));
        String message = assertThrows(FusionException.class, () -> parse(c)).getMessage();
        for (String m : mention) {
            assertTrue(message.contains(m), "message should mention '" + m + "': " + message);
        }
    }

    @Test
    void neutralValuesOfKeysNotImplementedAreAccepted() throws IOException {
        ModelConfig plain = parse(defaults("LlamaForCausalLM"));
        for (Map.Entry<String, String> e : Map.of("use_bidirectional_attention", "false", "sliding_window", "null",
                "attn_logit_softcapping", "null", "use_mrope", "false", "attention_bias", "false",
                "quantization_config", "null").entrySet()) {
            ObjectNode c = defaults("LlamaForCausalLM");
            c.set(e.getKey(), JSON.readTree(e.getValue()));
            assertEquals(plain, parse(c), e.getKey());
        }
        ObjectNode mistral = defaults("MistralForCausalLM");
        mistral.put("attention_bias", false);
        assertEquals(parse(defaults("MistralForCausalLM")), parse(mistral));
    }

    @Test
    void thePapersThreeModelsLoad() {
        ModelConfig llama = parse(resource("paper-configs/Meta-Llama-3-8B-Instruct.json"));
        assertEquals(Architecture.LLAMA, llama.architecture());
        assertEquals(500000.0, llama.rope().theta());
        assertNull(llama.rope().llama3());
        assertEquals(8, llama.numKvHeads());
        assertEquals(8192, llama.maxPositions());

        ModelConfig phi3 = parse(resource("paper-configs/Phi-3-mini-128k-instruct.json"));
        assertEquals(Architecture.PHI3, phi3.architecture());
        assertEquals(4096, phi3.longRope().originalMaxPositions());
        assertEquals(Math.sqrt(1 + Math.log(32) / Math.log(4096)), phi3.longRope().attentionFactor(), 1e-12);
        assertEquals(48, phi3.longRope().longFactor().size());
        assertFalse(phi3.hasSlidingLayers() && phi3.slidingWindow().getAsInt() < phi3.maxPositions(),
                "its sliding_window 262144 is longer than the context");
        assertEquals(131072, phi3.maxPositions());

        ModelConfig glm = parse(resource("paper-configs/glm-4-9b-chat-hf.json"));
        assertEquals(Architecture.GLM, glm.architecture());
        assertEquals(64, glm.rope().rotaryDim());
        assertTrue(glm.qkvBias());
        assertFalse(glm.outputBias());
        assertEquals(1.5625e-7, glm.rmsNormEps());
    }
}
