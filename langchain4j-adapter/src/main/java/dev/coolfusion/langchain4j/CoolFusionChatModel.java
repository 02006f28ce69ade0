package dev.coolfusion.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import java.util.List;

/**
 * The fused models as a LangChain4j {@link ChatModel}: a drop-in replacement for one LLM.
 *
 * <p>Every source model reads the conversation rendered with its own chat template (see {@link dev.coolfusion.template.SourcePrompts}); the
 * fused answer is the same text for all. Request parameters {@code maxOutputTokens} (counted in the first source's
 * tokens), {@code temperature}, {@code topP} and {@code stopSequences} map onto {@code FusionOptions}; tools, JSON
 * response formats, non-text content, {@code topK} and penalties are refused with
 * {@link dev.langchain4j.exception.UnsupportedFeatureException}. The response's metadata is a
 * {@link CoolFusionChatResponseMetadata} with the per-segment trace.
 *
 * <p>Finish reasons: {@code STOP} at end-of-sequence or a stop sequence; {@code LENGTH} at {@code maxOutputTokens}
 * or when a source's context is full (the answer so far is kept; the next turn of a growing conversation may then
 * not fit). A conversation that leaves a source's context no room for an answer is an
 * {@link dev.langchain4j.exception.InvalidRequestException}: nothing is truncated silently. Building from a
 * config ({@link Builder#config}) reports every problem with it or its providers as a
 * {@link dev.coolfusion.spi.FusionException}.
 *
 * <pre>{@code
 * try (CoolFusionChatModel model = CoolFusionChatModel.builder().config(Path.of("models/fusion.yaml")).build()) {
 *     String answer = model.chat("What is 2 + 3?");
 * }
 * }</pre>
 */
public final class CoolFusionChatModel extends FusedModel implements ChatModel {

    private CoolFusionChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        chat.validate(request);
        return chat.response(chat.generate(request, dev.coolfusion.core.StepListener.NONE));
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return chat.defaultParameters;
    }

    @Override
    public List<ChatModelListener> listeners() {
        return chat.listeners;
    }

    public static final class Builder extends ModelBuilder<Builder> {
        private Builder() {}

        public CoolFusionChatModel build() {
            return new CoolFusionChatModel(this);
        }
    }
}
