package dev.coolfusion.langchain4j;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.langchain4j.model.language.LanguageModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import java.util.Map;

/**
 * The fused models as a LangChain4j {@link LanguageModel}: raw completion of a prompt, no chat template. Every
 * source tokenizes the prompt itself (with its begin-of-sequence id). Options come from the fusion's defaults,
 * overridden by the builder's {@code maxOutputTokens}, {@code temperature}, {@code topP} and {@code stopSequences}.
 * The response metadata has {@code "steps"} (the per-segment trace), {@code "promptTokens"} (per source) and {@code
 * "dropped"} (the sources {@code on-source-failure: drop} left out).
 * A completion that fills a source's context ends there ({@code FinishReason.LENGTH}); a prompt that does not fit
 * is an {@link dev.langchain4j.exception.InvalidRequestException}.
 */
public final class CoolFusionLanguageModel extends FusedModel implements LanguageModel {
    private final FusionOptions options;

    private CoolFusionLanguageModel(Builder builder) {
        super(builder);
        this.options = chat.options(chat.defaultParameters);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Response<String> generate(String prompt) {
        requireNonNull(prompt, "prompt is null");
        Generation g = FusedChat.invalidIfTooLong(() -> chat.fused.fusion().generate(prompt, options));
        String first = chat.fused.fusion().sources().get(0).name();
        return new Response<>(g.text(), new TokenUsage(g.promptTokens().get(first), g.outputTokens()),
                FusedChat.finishReason(g.finish()), Map.of("steps", g.steps(), "promptTokens", g.promptTokens(), "dropped", g.dropped()));
    }

    public static final class Builder extends ModelBuilder<Builder> {
        private Builder() {}

        public CoolFusionLanguageModel build() {
            return new CoolFusionLanguageModel(this);
        }
    }
}
