package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;

/**
 * The result of a fused generation.
 *
 * @param text           the generated text, without the prompt, a stop string or end-of-sequence marker
 * @param finish         why it ended
 * @param steps          the per-step trace
 * @param promptTokens   prompt length in tokens, per source name
 * @param outputTokens   the text's length in the tokens of the first source still in the fusion (the first source's,
 *                       unless it was dropped)
 * @param dropped        every source {@link SourceFailurePolicy#DROP} left out, in the order they failed; empty when
 *                       no source failed
 */
public record Generation(
        String text,
        FinishReason finish,
        List<StepTrace> steps,
        Map<String, Integer> promptTokens,
        int outputTokens,
        List<DroppedSource> dropped) {
    public Generation {
        dropped = List.copyOf(requireNonNull(dropped, "dropped is null"));
        requireNonNull(text, "text is null");
        requireNonNull(finish, "finish is null");
        steps = List.copyOf(requireNonNull(steps, "steps is null"));
        promptTokens = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(requireNonNull(promptTokens, "promptTokens is null")));
    }
}
