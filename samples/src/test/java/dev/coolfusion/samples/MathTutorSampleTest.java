package dev.coolfusion.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.langchain4j.CoolFusionChatModel;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.ChatMessageType;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MathTutorSampleTest {
    @TempDir
    Path tmp;

    @Test
    void theAiServiceSendsSystemMessageAndMemoryToTheFusedModel() throws Exception {
        List<List<ChatMessage>> requests = new ArrayList<>();
        ChatModelListener recorder = new ChatModelListener() {
            @Override
            public void onRequest(ChatModelRequestContext ctx) {
                requests.add(ctx.chatRequest().messages());
            }
        };
        try (CoolFusionChatModel model = CoolFusionChatModel.builder().config(SampleModels.config(tmp, 4))
                .listeners(List.of(recorder)).build()) {
            MathTutorSample.MathTutor tutor = MathTutorSample.tutor(model, MessageWindowChatMemory.withMaxMessages(10));
            String first = tutor.ask("What is 12 * 7?");
            assertNotNull(first);
            assertNotNull(tutor.ask("And half of that?"));
            assertEquals(2, requests.size());
            List<ChatMessage> second = requests.get(1);
            assertEquals(List.of(ChatMessageType.SYSTEM, ChatMessageType.USER, ChatMessageType.AI, ChatMessageType.USER),
                    second.stream().map(ChatMessage::type).toList());
            assertTrue(((SystemMessage) second.get(0)).text().contains("maths tutor"));
            assertEquals("What is 12 * 7?", ((UserMessage) second.get(1)).singleText());
            assertEquals(first, ((AiMessage) second.get(2)).text());
        }
    }

    @Test
    void runsWithAConfigAndSaysClearlyWhenItIsMissing() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = MathTutorSample.run(new String[] {SampleModels.config(tmp, 3).toString(), "What is 1 + 1?"},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        assertTrue(out.toString(StandardCharsets.UTF_8).startsWith("you:   What is 1 + 1?\ntutor: "));

        ByteArrayOutputStream missing = new ByteArrayOutputStream();
        code = MathTutorSample.run(new String[] {tmp.resolve("nope.yaml").toString()}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(missing, true, StandardCharsets.UTF_8));
        assertEquals(1, code);
        String message = missing.toString(StandardCharsets.UTF_8);
        assertTrue(message.startsWith("error: fusion config ") && message.contains("nope.yaml not found"), message);
    }
}
