package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.StepTrace;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.spi.TextCodec;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.listener.ChatModelErrorContext;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import dev.langchain4j.model.chat.listener.ChatModelResponseContext;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Behaviour every fused chat model passes, in the manner of LangChain4j's common chat-model tests: each model kind
 * extends this class and says how to send a request. The models are real DJL models with random weights, so the
 * tests check structure (concatenation, finish reasons, token limits, stop sequences, listener order, released
 * states), not content.
 */
abstract class AbstractFusedChatModelTest {

    /** Builds the model under test over the shared tiny models, with the given listeners. */
    protected abstract Object model(List<ChatModelListener> listeners);

    /** Sends a request through the model's public API and returns its response, or throws its error. */
    protected abstract ChatResponse chat(Object model, ChatRequest request);

    protected static final TextCodec LLAMA3 = TinyFusedModels.llama3().codec();

    @AfterEach
    void everyStateIsReleased() {
        for (DjlSourceModel m : TinyFusedModels.both()) {
            assertEquals(0, m.liveStates(), m.name() + " has unreleased states");
        }
    }

    private ChatResponse chat(ChatRequest request) {
        return chat(model(List.of()), request);
    }

    private static ChatRequest.Builder request(int maxTokens) {
        return ChatRequest.builder().maxOutputTokens(maxTokens);
    }

    @Test
    void plainChat() {
        ChatResponse r = chat(request(12).messages(UserMessage.from("What is 2 + 3?")).build());
        String text = r.aiMessage().text();
        assertNotNull(text);
        assertTrue(r.finishReason() == FinishReason.STOP || r.finishReason() == FinishReason.LENGTH, r.finishReason().toString());
        CoolFusionChatResponseMetadata meta = assertInstanceOf(CoolFusionChatResponseMetadata.class, r.metadata());
        assertEquals("cool-fusion(llama3+qwen3)", r.modelName());
        assertFalse(meta.steps().isEmpty());
        assertEquals(text, meta.steps().stream().map(StepTrace::emitted).collect(Collectors.joining()));
        assertEquals(meta.steps().size(), meta.winners().size());
        for (var w : meta.winners()) {
            assertFalse(w.proposers().isEmpty());
            assertTrue(List.of("llama3", "qwen3").containsAll(w.proposers()), w.proposers().toString());
        }
        // input tokens: the first source's prompt; output tokens: the answer in the first source's tokens
        assertEquals(meta.promptTokens().get("llama3"), r.tokenUsage().inputTokenCount());
        assertTrue(r.tokenUsage().outputTokenCount() <= 12);
        assertEquals(r.tokenUsage().inputTokenCount() + r.tokenUsage().outputTokenCount(), r.tokenUsage().totalTokenCount());
    }

    @Test
    void multiTurnWithSystemMessageIsRenderedWithEachModelsOwnTemplate() {
        ChatResponse r = chat(request(4).messages(SystemMessage.from("You are terse."), UserMessage.from("Hi"),
                AiMessage.from("Hello!"), UserMessage.from("2+2?")).build());
        CoolFusionChatResponseMetadata meta = (CoolFusionChatResponseMetadata) r.metadata();
        String llama3Prompt = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        String qwen3Prompt = "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n";
        assertEquals(LLAMA3.encode(llama3Prompt).ids().size(), meta.promptTokens().get("llama3"));
        assertEquals(TinyFusedModels.qwen3().codec().encode(qwen3Prompt).ids().size(), meta.promptTokens().get("qwen3"));
    }

    @Test
    void maxOutputTokensCutsTheAnswerInTheFirstSourcesTokens() {
        ChatResponse r = chat(request(3).messages(UserMessage.from("Count to ten.")).build());
        assertTrue(r.tokenUsage().outputTokenCount() <= 3);
        assertTrue(LLAMA3.encodeContinuation(r.aiMessage().text()).ids().size() <= 3, r.aiMessage().text());
        if (r.tokenUsage().outputTokenCount() == 3) {
            assertEquals(FinishReason.LENGTH, r.finishReason());
        }
    }

    @Test
    void stopSequencesCutTheText() {
        ChatRequest base = request(24).messages(UserMessage.from("Tell me a story.")).build();
        String full = chat(base).aiMessage().text();
        assertTrue(full.length() >= 6, "need some text to cut: [" + full + "]");
        String stop = full.substring(full.length() / 2, full.length() / 2 + 2);
        String expected = full.substring(0, full.indexOf(stop));
        ChatResponse r = chat(request(24).stopSequences(List.of(stop)).messages(UserMessage.from("Tell me a story.")).build());
        assertEquals(expected, r.aiMessage().text());
        assertEquals(FinishReason.STOP, r.finishReason());
    }

    @Test
    void listenersSeeRequestThenResponse() {
        List<String> calls = Collections.synchronizedList(new ArrayList<>());
        ChatModelListener listener = new ChatModelListener() {
            @Override
            public void onRequest(ChatModelRequestContext ctx) {
                calls.add("request:" + ctx.chatRequest().maxOutputTokens());
            }

            @Override
            public void onResponse(ChatModelResponseContext ctx) {
                calls.add("response:" + ctx.chatResponse().finishReason());
            }

            @Override
            public void onError(ChatModelErrorContext ctx) {
                calls.add("error:" + ctx.error().getClass().getSimpleName());
            }
        };
        Object model = model(List.of(listener));
        ChatResponse r = chat(model, request(2).messages(UserMessage.from("Hi")).build());
        assertEquals(List.of("request:2", "response:" + r.finishReason()), calls);
        calls.clear();
        assertThrows(UnsupportedFeatureException.class, () -> chat(model, request(2).messages(UserMessage.from("Hi"))
                .toolSpecifications(ToolSpecification.builder().name("calc").description("adds").build()).build()));
        assertEquals(List.of("request:2", "error:UnsupportedFeatureException"), calls);
    }

    @Test
    void toolsJsonAndImagesAreRefused() {
        UnsupportedFeatureException tools = assertThrows(UnsupportedFeatureException.class, () -> chat(request(2)
                .messages(UserMessage.from("Hi"))
                .toolSpecifications(ToolSpecification.builder().name("calc").build()).build()));
        assertTrue(tools.getMessage().contains("tools"), tools.getMessage());
        UnsupportedFeatureException json = assertThrows(UnsupportedFeatureException.class, () -> chat(request(2)
                .messages(UserMessage.from("Hi")).responseFormat(ResponseFormat.JSON).build()));
        assertTrue(json.getMessage().contains("JSON"), json.getMessage());
        UnsupportedFeatureException image = assertThrows(UnsupportedFeatureException.class, () -> chat(request(2)
                .messages(UserMessage.from(TextContent.from("What is this?"), ImageContent.from("https://example.invalid/a.png")))
                .build()));
        assertTrue(image.getMessage().toLowerCase().contains("image"), image.getMessage());
        assertThrows(UnsupportedFeatureException.class, () -> chat(request(2).messages(UserMessage.from("Hi")).topK(5).build()));
    }

    @Test
    void aConversationThatLeavesASourceNoRoomIsAnInvalidRequestSeenByListeners() {
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        ChatModelListener listener = new ChatModelListener() {
            @Override
            public void onError(ChatModelErrorContext ctx) {
                errors.add(ctx.error());
            }
        };
        String long_ = "Tell me about apples and pears. ".repeat(200); // far more than the tiny models' 1024 tokens
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> chat(model(List.of(listener)), request(4).messages(UserMessage.from(long_)).build()));
        ContextLengthExceededException cause = assertInstanceOf(ContextLengthExceededException.class, e.getCause());
        assertEquals(1024, cause.maxContextTokens());
        assertTrue(cause.tokens() > 1024, e.getMessage());
        assertTrue(e.getMessage().startsWith("the prompt has " + cause.tokens() + " tokens for source '" + cause.source()
                + "', more than its max context of 1024 tokens"), e.getMessage());
        assertEquals(1, errors.size());
        assertInstanceOf(InvalidRequestException.class, errors.get(0));
    }

    @Test
    void finishReasonsMap() {
        assertEquals(FinishReason.STOP, FusedChat.finishReason(dev.coolfusion.core.FinishReason.END_OF_SEQUENCE));
        assertEquals(FinishReason.STOP, FusedChat.finishReason(dev.coolfusion.core.FinishReason.STOP));
        assertEquals(FinishReason.LENGTH, FusedChat.finishReason(dev.coolfusion.core.FinishReason.LENGTH));
    }
}
