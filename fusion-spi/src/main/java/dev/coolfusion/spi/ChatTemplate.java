package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.Map;
import java.util.Optional;

/**
 * A model's chat template: the Jinja source that turns a conversation into its prompt text (Hugging Face's
 * {@code chat_template}), and the special-token strings the template may refer to.
 *
 * @param source        the Jinja template text
 * @param specialTokens special tokens by variable name as Hugging Face passes them to the template
 *                      ({@code bos_token}, {@code eos_token}, {@code unk_token}, {@code pad_token}, ...); tokens the
 *                      model does not have are absent
 */
public record ChatTemplate(String source, Map<String, String> specialTokens) {
    public ChatTemplate {
        requireNonNull(source, "source is null");
        specialTokens = Map.copyOf(requireNonNull(specialTokens, "specialTokens is null"));
    }

    public static ChatTemplate of(String source, Map<String, String> specialTokens) {
        return new ChatTemplate(source, specialTokens);
    }

    /** The begin-of-sequence token string ({@code bos_token}), if the model has one. */
    public Optional<String> bosToken() {
        return Optional.ofNullable(specialTokens.get("bos_token"));
    }

    /** The end-of-sequence token string ({@code eos_token}), if the model has one. */
    public Optional<String> eosToken() {
        return Optional.ofNullable(specialTokens.get("eos_token"));
    }
}
