package dev.coolfusion.template;

import static java.util.Objects.requireNonNull;

/**
 * One message of a conversation as chat templates see it: {@code {"role": ..., "content": ...}}.
 *
 * @param role    {@code system}, {@code user} or {@code assistant} (templates may accept others)
 * @param content the message text
 */
public record TemplateMessage(String role, String content) {
    public TemplateMessage {
        requireNonNull(role, "role is null");
        requireNonNull(content, "content is null");
    }

    public static TemplateMessage system(String content) {
        return new TemplateMessage("system", content);
    }

    public static TemplateMessage user(String content) {
        return new TemplateMessage("user", content);
    }

    public static TemplateMessage assistant(String content) {
        return new TemplateMessage("assistant", content);
    }
}
