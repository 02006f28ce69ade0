package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.testkit.BundledModels;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.memory.ChatMemory;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelResponseContext;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.Result;
import dev.langchain4j.service.SystemMessage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A chat on the bundled models (512-token contexts, {@code max-new-tokens: 96}) as applications hold it: an AI
 * service with a 10-message window. The window keeps the conversation below the context, but a long answer late in
 * it fills the context. Before, that turn failed with "source 'C' failed in segment generation (T1): C: the context
 * is full (512 of 512 tokens)" and its answer was lost.
 */
class BundledChatContextTest {
    private static CoolFusionChatModel model;
    private static final List<ChatResponse> responses = new ArrayList<>();

    interface Tutor {
        @SystemMessage("You are a patient maths tutor. Explain each step briefly, then give the answer.")
        Result<String> ask(String question);
    }

    @BeforeAll
    static void load() {
        ChatModelListener recorder = new ChatModelListener() {
            @Override
            public void onResponse(ChatModelResponseContext ctx) {
                responses.add(ctx.chatResponse());
            }
        };
        model = CoolFusionChatModel.builder().config(BundledModels.dir().resolve("fusion.yaml"))
                .listeners(List.of(recorder)).build();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void aLongChatWithMessageWindowMemoryEndsAnAnswerThatFillsTheContextWithLength() {
        ChatMemory memory = MessageWindowChatMemory.withMaxMessages(10);
        Tutor tutor = AiServices.builder(Tutor.class).chatModel(model).chatMemory(memory).build();
        responses.clear();
        int contextFull = -1;
        for (int turn = 0; turn < 8; turn++) {
            Result<String> answer = tutor.ask("Kate has " + (12 + turn) + " stickers. She buys 7 boxes with 3 stickers in"
                    + " each. How many stickers does she have now?");
            ChatResponse r = responses.get(turn);
            CoolFusionChatResponseMetadata meta = (CoolFusionChatResponseMetadata) r.metadata();
            int output = r.tokenUsage().outputTokenCount();
            if (answer.finishReason() == FinishReason.LENGTH && output < 96 && contextFull < 0) {
                contextFull = turn;
                // Not the 96-token limit: the answer ended because a source had no room left; its text is kept.
                assertFalse(answer.content().isBlank());
                assertEquals(r.aiMessage().text(), answer.content());
                boolean someSourceIsFull = false;
                for (SourceModel source : model.fusion().sources()) {
                    int prompt = meta.promptTokens().get(source.name());
                    int inSource = source.codec().encodeContinuation(answer.content()).ids().size();
                    assertTrue(prompt + inSource <= 512, source.name() + ": " + prompt + " + " + inSource);
                    // the whole answer re-encoded can differ by a few tokens from the segments a source committed
                    someSourceIsFull |= prompt + inSource + 12 >= 512;
                }
                assertTrue(someSourceIsFull, "a source's context is (about) full: " + meta.promptTokens());
                assertEquals(dev.coolfusion.core.FinishReason.LENGTH,
                        meta.steps().get(meta.steps().size() - 1).finish().orElseThrow());
                List<ChatMessage> remembered = memory.messages();
                assertEquals(answer.content(), ((AiMessage) remembered.get(remembered.size() - 1)).text(),
                        "the memory holds the answer so far");
            }
        }
        assertTrue(contextFull >= 0, "some turn filled a context");
        assertEquals(8, responses.size(), "every turn was answered");
    }

    @Test
    void aPromptLongerThanTheContextIsAnInvalidRequestForChatAndCompletion() {
        String question = "Mia has 17 apples. She buys 11 more. How many apples does she have now? ".repeat(30);
        InvalidRequestException chat = assertThrows(InvalidRequestException.class, () -> model.chat(question));
        ContextLengthExceededException cause = assertInstanceOf(ContextLengthExceededException.class, chat.getCause());
        assertEquals(512, cause.maxContextTokens());
        assertTrue(chat.getMessage().contains("max context of 512 tokens"), chat.getMessage());
        assertTrue(chat.getMessage().contains("MessageWindowChatMemory"), chat.getMessage());

        CoolFusionLanguageModel completion = CoolFusionLanguageModel.builder().fusion(model.fusion()).build();
        assertThrows(InvalidRequestException.class, () -> completion.generate(question));
        // A prompt with some room left is answered, as far as it fits.
        String fits = question.substring(0, 1500);
        Response<String> r = completion.generate(fits);
        @SuppressWarnings("unchecked")
        Map<String, Integer> prompts = (Map<String, Integer>) r.metadata().get("promptTokens");
        assertTrue(prompts.values().stream().allMatch(n -> n < 512), prompts.toString());
        assertTrue(r.finishReason() == FinishReason.LENGTH || r.finishReason() == FinishReason.STOP);
    }
}
