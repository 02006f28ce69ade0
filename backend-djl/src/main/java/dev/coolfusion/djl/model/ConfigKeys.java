package dev.coolfusion.djl.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.djl.model.ModelConfig.Architecture;
import dev.coolfusion.spi.FusionException;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which {@code config.json} keys the loader knows, per architecture: those it implements (reads, and refuses values it
 * does not implement) and those known not to affect inference. Any other key must be absent, null or at its neutral
 * value (the value under which transformers computes what this loader computes, e.g. {@code mlp_bias: false}); a
 * checkpoint with such a key at another value is refused, naming the key and the value, so that a setting nobody
 * implemented never changes the model silently.
 *
 * <p>The lists cover every field of transformers 5.17's configuration classes of the nine architectures (checked by
 * {@code ConfigKeysTest} against {@code src/test/resources/hf-config-fields.json}) and the transformers 4.x keys that
 * older checkpoints still carry ({@link #FOUR_X}).
 */
final class ConfigKeys {
    private ConfigKeys() {}

    /** Read by the loader for every architecture. */
    private static final Set<String> IMPLEMENTED_COMMON = Set.of(
            "architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "vocab_size", "rms_norm_eps", "rope_parameters", "max_position_embeddings",
            "tie_word_embeddings");

    /** transformers 4.x spellings the loader reads too: rope settings at the top level (see {@link ModelConfig}). */
    static final Set<String> FOUR_X = Set.of("rope_theta", "rope_scaling", "torch_dtype", "rope_local_base_freq",
            "sliding_window_pattern", "cache_implementation");

    /** Read by the loader for one architecture only. */
    private static final Map<Architecture, Set<String>> IMPLEMENTED = Map.of(
            Architecture.LLAMA, Set.of("hidden_act", "attention_bias", "mlp_bias", "rope_theta", "rope_scaling"),
            Architecture.MISTRAL, Set.of("hidden_act", "sliding_window", "rope_theta", "rope_scaling"),
            Architecture.QWEN2, Set.of("hidden_act", "use_sliding_window", "sliding_window", "max_window_layers",
                    "layer_types", "rope_theta", "rope_scaling"),
            Architecture.PHI3, Set.of("hidden_act", "sliding_window", "original_max_position_embeddings", "rope_theta",
                    "rope_scaling", "partial_rotary_factor"),
            Architecture.GLM, Set.of("hidden_act", "attention_bias", "partial_rotary_factor", "rope_theta", "rope_scaling"),
            Architecture.GLM4, Set.of("hidden_act", "attention_bias", "partial_rotary_factor", "rope_theta",
                    "rope_scaling"),
            Architecture.QWEN3, Set.of("hidden_act", "attention_bias", "use_sliding_window", "sliding_window",
                    "max_window_layers", "layer_types", "rope_theta", "rope_scaling"),
            Architecture.GEMMA2, Set.of("hidden_activation", "attention_bias", "query_pre_attn_scalar", "sliding_window",
                    "layer_types", "final_logit_softcapping", "attn_logit_softcapping", "use_bidirectional_attention",
                    "rope_theta", "rope_scaling"),
            Architecture.GEMMA3, Set.of("hidden_activation", "attention_bias", "query_pre_attn_scalar", "sliding_window",
                    "layer_types", "final_logit_softcapping", "attn_logit_softcapping", "use_bidirectional_attention",
                    "rope_theta", "rope_scaling", "rope_local_base_freq", "sliding_window_pattern"));

    /**
     * Known not to change what a causal LM computes from token ids, for every architecture: token ids, labels, output
     * and generation flags, training-only settings (dropout, initialisation), the weights' storage type (the tensors
     * say theirs; the model runs in the {@code dtype} option), bookkeeping, and the attributes that every transformers
     * 4.x {@code PretrainedConfig} carried (generation defaults, task metadata).
     */
    private static final Set<String> NO_EFFECT_COMMON = Set.of(
            // transformers 5 PreTrainedConfig fields
            "_name_or_path", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id",
            "decoder_start_token_id", "chunk_size_feed_forward", "dtype", "torch_dtype", "id2label", "label2id",
            "initializer_range", "is_encoder_decoder", "output_attentions", "output_hidden_states", "problem_type",
            "return_dict", "transformers_version", "use_cache", "auto_map", "tokenizer_class",
            "_attn_implementation_autoset", "cache_implementation",
            // transformers 4.x PretrainedConfig attributes that full to_dict() dumps carry
            "torchscript", "use_bfloat16", "tf_legacy_loss", "pruned_heads", "is_decoder", "cross_attention_hidden_size",
            "add_cross_attention", "tie_encoder_decoder", "max_length", "min_length", "do_sample", "early_stopping",
            "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p",
            "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
            "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
            "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
            "begin_suppress_tokens", "finetuning_task", "prefix", "task_specific_params", "use_return_dict");

    /** Per architecture, known not to affect inference. */
    private static final Map<Architecture, Set<String>> NO_EFFECT = Map.of(
            Architecture.LLAMA, Set.of("pretraining_tp"), // 4.x sliced the same matmuls; 5.x ignores it
            Architecture.PHI3, Set.of("embd_pdrop", "resid_pdrop"),
            Architecture.GEMMA2, Set.of("hidden_act"), // Gemma 2 and 3 use hidden_activation; hidden_act is unread
            Architecture.GEMMA3, Set.of("hidden_act", "_sliding_window_pattern")); // layer_types or sliding_window_pattern rule

    /**
     * Keys the loader does not implement for some architecture, at the value under which transformers computes what
     * the loader computes. (Null, or the key absent, is always neutral.)
     */
    private static final Map<String, Object> NEUTRAL = Map.of(
            "mlp_bias", false,
            "attention_bias", false,
            "partial_rotary_factor", 1.0,
            "use_sliding_window", false,
            "use_bidirectional_attention", false,
            "use_mrope", false,
            "pretraining_tp", 1);

    /** The keys the loader reads for {@code arch}. */
    static Set<String> implemented(Architecture arch) {
        Set<String> keys = new TreeSet<>(IMPLEMENTED_COMMON);
        keys.addAll(IMPLEMENTED.getOrDefault(arch, Set.of()));
        return keys;
    }

    /** The keys known not to affect inference for {@code arch}. */
    static Set<String> noEffect(Architecture arch) {
        Set<String> keys = new TreeSet<>(NO_EFFECT_COMMON);
        keys.addAll(NO_EFFECT.getOrDefault(arch, Set.of()));
        return keys;
    }

    /** Refuses a key of {@code root} that {@code arch} neither implements nor knows to be without effect, unless neutral. */
    static void check(JsonNode root, Architecture arch, String source) {
        Set<String> implemented = implemented(arch);
        Set<String> noEffect = noEffect(arch);
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            if (implemented.contains(key) || noEffect.contains(key) || isNeutral(key, e.getValue())) {
                continue;
            }
            throw new FusionException(source + ": field '" + key + "' is " + e.getValue() + ", a setting this loader does"
                    + " not implement for " + arch.hfName + " (it implements " + implemented + "; keys known not to"
                    + " affect inference are ignored; any other key must be absent or null"
                    + (NEUTRAL.containsKey(key) ? " or " + NEUTRAL.get(key) : "") + ")");
        }
    }

    static boolean isNeutral(String key, JsonNode value) {
        if (value == null || value.isNull()) {
            return true;
        }
        Object neutral = NEUTRAL.get(key);
        if (neutral instanceof Boolean b) {
            return value.isBoolean() && value.asBoolean() == b;
        }
        if (neutral instanceof Number n) {
            return value.isNumber() && value.asDouble() == n.doubleValue();
        }
        return false;
    }
}
