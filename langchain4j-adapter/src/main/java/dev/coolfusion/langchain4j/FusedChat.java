package dev.coolfusion.langchain4j;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.template.SourcePrompts;
import dev.coolfusion.core.FinishReason;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepListener;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.template.TemplateMessage;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.ChatRequestValidationUtils;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.TokenUsage;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** What the chat and streaming models share: request checks, parameter mapping, prompts, the response. */
final class FusedChat {
    final ConfiguredFusion fused;
    final String modelName;
    final ChatRequestParameters defaultParameters;
    final List<ChatModelListener> listeners;
    private final SourcePrompts prompts;

    FusedChat(ConfiguredFusion fused, String modelName, ChatRequestParameters defaultParameters, List<ChatModelListener> listeners) {
        this.fused = requireNonNull(fused, "fused is null");
        this.modelName = modelName == null ? defaultModelName(fused) : modelName;
        FusionOptions d = fused.options();
        ChatRequestParameters fromOptions = DefaultChatRequestParameters.builder()
                .modelName(this.modelName)
                .maxOutputTokens(d.maxNewTokens())
                .temperature(d.temperature())
                .topP(d.topP())
                .stopSequences(d.stopStrings())
                .build();
        this.defaultParameters = defaultParameters == null ? fromOptions : fromOptions.overrideWith(defaultParameters);
        this.listeners = listeners == null ? List.of() : List.copyOf(listeners);
        this.prompts = SourcePrompts.of(fused.fusion().sources());
    }

    /** The default model name: the source names joined by {@code +}. */
    static String defaultModelName(ConfiguredFusion fused) {
        return "cool-fusion(" + String.join("+", fused.sourceNames()) + ")";
    }

    /**
     * Fuses an answer to a (validated) request; {@code listener} sees every step as it is committed. An answer that
     * fills a source's context ends there ({@code FinishReason.LENGTH}, with the text so far); a conversation that
     * leaves a source no room at all is an {@link InvalidRequestException}.
     */
    Generation generate(ChatRequest request, StepListener listener) {
        List<TemplateMessage> messages = messages(request);
        FusionOptions options = options(request.parameters());
        List<List<Integer>> tokens = prompts.tokens(messages);
        return invalidIfTooLong(() -> fused.fusion().generateFromTokens(tokens, options, listener));
    }

    /** Runs a generation, reporting a prompt that does not fit a source's context as an invalid request. */
    static Generation invalidIfTooLong(java.util.function.Supplier<Generation> generation) {
        try {
            return generation.get();
        } catch (ContextLengthExceededException e) {
            throw new InvalidRequestException(e.getMessage()
                    + " (with chat memory, keep fewer messages, e.g. a smaller MessageWindowChatMemory)", e);
        }
    }

    ChatResponse response(Generation g) {
        String first = fused.fusion().sources().get(0).name();
        Integer input = g.promptTokens().get(first);
        CoolFusionChatResponseMetadata metadata = CoolFusionChatResponseMetadata.builder()
                .id("cool-fusion-" + UUID.randomUUID())
                .modelName(modelName)
                .finishReason(finishReason(g.finish()))
                .tokenUsage(new TokenUsage(input, g.outputTokens()))
                .steps(g.steps())
                .promptTokens(g.promptTokens())
                .dropped(g.dropped())
                .build();
        return ChatResponse.builder().aiMessage(AiMessage.from(g.text())).metadata(metadata).build();
    }

    static dev.langchain4j.model.output.FinishReason finishReason(FinishReason finish) {
        return switch (finish) {
            case END_OF_SEQUENCE, STOP -> dev.langchain4j.model.output.FinishReason.STOP;
            case LENGTH -> dev.langchain4j.model.output.FinishReason.LENGTH;
        };
    }

    /** Refuses, with {@link UnsupportedFeatureException}, what a fused local model cannot do. */
    void validate(ChatRequest request) {
        ChatRequestParameters p = request.parameters();
        ChatRequestValidationUtils.validate(p.toolSpecifications());
        ChatRequestValidationUtils.validate(p.toolChoice());
        ChatRequestValidationUtils.validate(p.responseFormat());
        ChatRequestValidationUtils.validateMessages(request.messages());
        String unsupported = "%s is not supported by the fused model (cool-fusion)";
        if (p.topK() != null) {
            throw new UnsupportedFeatureException(String.format(unsupported, "'topK' parameter"));
        }
        if (p.frequencyPenalty() != null) {
            throw new UnsupportedFeatureException(String.format(unsupported, "'frequencyPenalty' parameter"));
        }
        if (p.presencePenalty() != null) {
            throw new UnsupportedFeatureException(String.format(unsupported, "'presencePenalty' parameter"));
        }
        if (p.modelName() != null && !p.modelName().equals(modelName)) {
            throw new UnsupportedFeatureException("this fused model is '" + modelName + "'; it cannot switch to model '"
                    + p.modelName() + "'");
        }
    }

    /** The conversation as role/content messages; tool messages and tool calls are refused. */
    static List<TemplateMessage> messages(ChatRequest request) {
        List<TemplateMessage> out = new ArrayList<>();
        for (ChatMessage message : request.messages()) {
            if (message instanceof SystemMessage system) {
                out.add(TemplateMessage.system(system.text()));
            } else if (message instanceof UserMessage user) {
                StringBuilder text = new StringBuilder();
                for (Content content : user.contents()) {
                    if (!(content instanceof TextContent t)) {
                        throw new UnsupportedFeatureException("Content of type " + content.type() + " is not supported "
                                + "by the fused model (cool-fusion): it reads text only");
                    }
                    text.append(text.length() == 0 ? "" : "\n").append(t.text());
                }
                out.add(TemplateMessage.user(text.toString()));
            } else if (message instanceof AiMessage ai) {
                if (ai.hasToolExecutionRequests()) {
                    throw new UnsupportedFeatureException("tool calls are not supported by the fused model (cool-fusion)");
                }
                out.add(TemplateMessage.assistant(ai.text() == null ? "" : ai.text()));
            } else {
                throw new UnsupportedFeatureException("messages of type " + message.type()
                        + " are not supported by the fused model (cool-fusion)");
            }
        }
        if (out.isEmpty()) {
            throw new InvalidRequestException("the request has no messages");
        }
        return out;
    }

    /** Maps maxOutputTokens, temperature, topP and stopSequences onto the fusion's default options. */
    FusionOptions options(ChatRequestParameters p) {
        FusionOptions.Builder b = fused.options().toBuilder();
        if (p.maxOutputTokens() != null) {
            b.maxNewTokens(p.maxOutputTokens());
        }
        if (p.temperature() != null) {
            b.temperature(p.temperature());
        }
        if (p.topP() != null) {
            b.topP(p.topP());
        }
        if (p.stopSequences() != null) {
            b.stopStrings(p.stopSequences());
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        }
    }
}
