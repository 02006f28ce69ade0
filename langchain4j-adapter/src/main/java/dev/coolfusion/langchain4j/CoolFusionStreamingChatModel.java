package dev.coolfusion.langchain4j;

import dev.coolfusion.core.Generation;
import dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import java.util.List;

/**
 * The fused models as a LangChain4j {@link StreamingChatModel}: each fused segment reaches
 * {@link StreamingChatResponseHandler#onPartialResponse(String)} as soon as it wins (the step's
 * {@code StepTrace.emitted()} text; a possible stop sequence is held back until decided), and the partials
 * concatenate exactly to the final text of {@link StreamingChatResponseHandler#onCompleteResponse}.
 *
 * <p>Generation runs on the calling thread and {@code chat(...)} returns when it has ended, so no thread outlives a
 * call. If the handler throws from {@code onPartialResponse}, the generation stops there, every model state is
 * released, and the exception goes to {@code onError} (and to the {@link ChatModelListener}s). Parameters, refused
 * features and metadata are as in {@link CoolFusionChatModel}.
 */
public final class CoolFusionStreamingChatModel extends FusedModel implements StreamingChatModel {

    private CoolFusionStreamingChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        ChatResponse response;
        try {
            chat.validate(request);
            Generation g = chat.generate(request, step -> {
                if (!step.emitted().isEmpty()) {
                    // An exception here propagates: it ends the generation, whose states are released.
                    handler.onPartialResponse(step.emitted());
                }
            });
            response = chat.response(g);
        } catch (Exception e) {
            InternalStreamingChatResponseHandlerUtils.withLoggingExceptions(() -> handler.onError(e));
            return;
        }
        InternalStreamingChatResponseHandlerUtils.onCompleteResponse(handler, response);
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

        public CoolFusionStreamingChatModel build() {
            return new CoolFusionStreamingChatModel(this);
        }
    }
}
