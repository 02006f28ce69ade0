package dev.coolfusion.template;

import dev.coolfusion.spi.ChatTemplate;
import java.util.Map;

/**
 * The fallback for a model without a chat template: a system message as it is followed by a blank line, then
 * {@code "User: <text>\n"} and {@code "Assistant: <text>\n"} per message, and {@code "Assistant:"} as the
 * generation prompt. It writes no special tokens, so the result is tokenized like a plain prompt (with the model's
 * begin-of-sequence id, {@code TextCodec.encodePrompt}).
 */
public final class PlainChatFormat {
    /** The fallback as a Jinja template. */
    public static final String SOURCE = "{% for m in messages %}"
            + "{% if m.role == 'system' %}{{ m.content + '\\n\\n' }}"
            + "{% elif m.role == 'user' %}{{ 'User: ' + m.content + '\\n' }}"
            + "{% elif m.role == 'assistant' %}{{ 'Assistant: ' + m.content + '\\n' }}"
            + "{% else %}{{ m.role + ': ' + m.content + '\\n' }}{% endif %}"
            + "{% endfor %}"
            + "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

    public static final ChatTemplate TEMPLATE = ChatTemplate.of(SOURCE, Map.of());

    private PlainChatFormat() {}
}
