package dev.coolfusion.server;

import static dev.coolfusion.server.Fixtures.KEY;
import static dev.coolfusion.server.Fixtures.QUESTION;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.langchain4j.CoolFusionChatModel;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.ModelNotFoundException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LangChain4j's own OpenAI clients, pointed at the server with {@code baseUrl}, get exactly what the in-process
 * {@link CoolFusionChatModel} gives for the same messages and parameters.
 */
class OpenAiClientsTest {
    static FusionServer server;
    static CoolFusionChatModel local;

    @BeforeAll
    static void start() {
        server = Fixtures.serve(b -> {});
        local = CoolFusionChatModel.builder().fusion(Fixtures.bundled()).build();
    }

    @AfterAll
    static void stop() {
        server.close();
        local.close();
    }

    static OpenAiChatModel remote() {
        return OpenAiChatModel.builder().baseUrl(Fixtures.v1(server).toString()).apiKey(KEY)
                .modelName(server.modelName()).timeout(Duration.ofMinutes(2)).maxRetries(0).build();
    }

    static OpenAiStreamingChatModel streaming() {
        return OpenAiStreamingChatModel.builder().baseUrl(Fixtures.v1(server).toString()).apiKey(KEY)
                .modelName(server.modelName()).timeout(Duration.ofMinutes(2)).build();
    }

    static final List<ChatMessage> CONVERSATION = List.of(
            SystemMessage.from("You solve arithmetic word problems step by step."),
            UserMessage.from("Question: Ann has 3 apples and buys 4 more. How many apples does she have?"),
            AiMessage.from("Ann has 3 + 4 = 7 apples. The answer is 7."),
            UserMessage.from("Question: Tom has 12 cards and gives away 5. How many cards does he have?"));

    @Test
    void chatGivesWhatTheInProcessModelGives() {
        ChatModel remote = remote();
        for (List<ChatMessage> messages : List.of(List.<ChatMessage>of(UserMessage.from(QUESTION)), CONVERSATION)) {
            ChatResponse expected = local.chat(ChatRequest.builder().messages(messages).build());
            ChatResponse actual = remote.chat(ChatRequest.builder().messages(messages).build());
            assertFalse(expected.aiMessage().text().isBlank());
            assertEquals(expected.aiMessage().text(), actual.aiMessage().text());
            assertEquals(expected.finishReason(), actual.finishReason());
            assertEquals(expected.tokenUsage().inputTokenCount(), actual.tokenUsage().inputTokenCount());
            assertEquals(expected.tokenUsage().outputTokenCount(), actual.tokenUsage().outputTokenCount());
            assertEquals(server.modelName(), actual.modelName());
        }
    }

    @Test
    void requestParametersMeanWhatTheyMeanInProcess() {
        ChatModel remote = remote();
        List<ChatRequest> requests = List.of(
                ChatRequest.builder().messages(UserMessage.from(QUESTION)).maxOutputTokens(5).build(),
                ChatRequest.builder().messages(UserMessage.from(QUESTION)).stopSequences(List.of(" 35", "\n")).build(),
                ChatRequest.builder().messages(UserMessage.from(QUESTION)).temperature(0.9).topP(0.8).build());
        for (ChatRequest request : requests) {
            ChatResponse expected = local.chat(request);
            ChatResponse actual = remote.chat(request);
            assertEquals(expected.aiMessage().text(), actual.aiMessage().text(), request.toString());
            assertEquals(expected.finishReason(), actual.finishReason(), request.toString());
        }
        ChatResponse five = remote.chat(requests.get(0));
        assertEquals(FinishReason.LENGTH, five.finishReason());
        assertEquals(5, five.tokenUsage().outputTokenCount());
    }

    @Test
    void streamingPartialsConcatenateToTheInProcessText() throws Exception {
        for (List<ChatMessage> messages : List.of(List.<ChatMessage>of(UserMessage.from(QUESTION)), CONVERSATION)) {
            String expected = local.chat(ChatRequest.builder().messages(messages).build()).aiMessage().text();
            List<String> partials = new ArrayList<>();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming().chat(messages, new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(String partial) {
                    partials.add(partial);
                }

                @Override
                public void onCompleteResponse(ChatResponse response) {
                    done.complete(response);
                }

                @Override
                public void onError(Throwable error) {
                    done.completeExceptionally(error);
                }
            });
            ChatResponse response = done.get(2, TimeUnit.MINUTES);
            assertTrue(partials.size() > 1, "one partial per segment: " + partials);
            assertEquals(expected, String.join("", partials));
            assertEquals(expected, response.aiMessage().text());
            assertEquals(FinishReason.STOP, response.finishReason());
            assertTrue(response.tokenUsage() != null && response.tokenUsage().outputTokenCount() > 0,
                    "usage from stream_options.include_usage: " + response.tokenUsage());
        }
    }

    @Test
    void clientErrorsAreTheOpenAiOnes() {
        ModelNotFoundException unknown = assertThrows(ModelNotFoundException.class, () -> OpenAiChatModel.builder()
                .baseUrl(Fixtures.v1(server).toString()).apiKey(KEY).modelName("gpt-4o").maxRetries(0).build()
                .chat("hi"));
        assertTrue(unknown.getMessage().contains("The model `gpt-4o` does not exist"), unknown.getMessage());
        AuthenticationException wrongKey = assertThrows(AuthenticationException.class, () -> OpenAiChatModel.builder()
                .baseUrl(Fixtures.v1(server).toString()).apiKey("sk-wrong").modelName(server.modelName()).maxRetries(0)
                .build().chat("hi"));
        assertTrue(wrongKey.getMessage().contains("wrong API key"), wrongKey.getMessage());
        InvalidRequestException tooMany = assertThrows(InvalidRequestException.class, () -> OpenAiChatModel.builder()
                .baseUrl(Fixtures.v1(server).toString()).apiKey(KEY).modelName(server.modelName()).maxRetries(0)
                .frequencyPenalty(0.5).build().chat("hi"));
        assertTrue(tooMany.getMessage().contains("frequency_penalty"), tooMany.getMessage());
        assertInstanceOf(RuntimeException.class, tooMany);
        Fixtures.assertNoLiveStates(Fixtures.bundled());
    }
}
