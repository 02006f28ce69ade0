package dev.coolfusion.server;

import static dev.coolfusion.server.Fixtures.KEY;
import static dev.coolfusion.server.Fixtures.q;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.langchain4j.CoolFusionChatModel;
import dev.coolfusion.server.Fixtures.Answer;
import dev.coolfusion.template.SourcePrompts;
import dev.coolfusion.template.TemplateMessage;
import dev.coolfusion.testkit.TinyCheckpoints;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.openai.OpenAiChatModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code /v1/models}, {@code /health}, the page, the served name, and sources prompted with their own templates. */
class ModelsAndTemplatesTest {
    @Test
    void modelsListTheFusionWithItsSources() {
        try (FusionServer server = Fixtures.serve(b -> {})) {
            Answer models = Fixtures.get(server, "/v1/models", KEY);
            assertEquals(200, models.status(), models.body());
            JsonNode body = models.json();
            assertEquals("list", body.path("object").asText());
            assertEquals(1, body.path("data").size());
            JsonNode model = body.at("/data/0");
            assertEquals("cool-fusion(A+B+C)", model.path("id").asText());
            assertEquals(server.modelName(), model.path("id").asText());
            assertEquals("model", model.path("object").asText());
            assertEquals(512, model.path("max_model_len").asInt());
            JsonNode sources = model.at("/cool_fusion/sources");
            assertEquals(3, sources.size());
            for (int i = 0; i < 3; i++) {
                assertEquals(List.of("A", "B", "C").get(i), sources.get(i).path("name").asText());
                assertEquals(512, sources.get(i).path("max_context").asInt());
                assertFalse(sources.get(i).path("chat_template").asBoolean());
            }
            assertEquals("avg-ppl", model.at("/cool_fusion/metric").asText());
            assertEquals(96, model.at("/cool_fusion/defaults/max_tokens").asInt());
            assertEquals(model, Fixtures.get(server, "/v1/models/" + server.modelName(), KEY).json());

            Answer health = Fixtures.get(server, "/health", null);
            assertEquals(200, health.status());
            assertEquals("ok", health.json().path("status").asText());

            Answer page = Fixtures.get(server, "/", null);
            assertEquals(200, page.status());
            assertTrue(page.header("Content-Type").startsWith("text/html"), page.header("Content-Type"));
            assertTrue(page.body().contains("cool-fusion playground"));
            assertFalse(page.body().matches("(?s).*(src|href)=\"(https?:)?//.*"), "nothing is fetched from elsewhere");
            assertTrue(page.header("Content-Security-Policy").contains("connect-src 'self'"));
        }
    }

    @Test
    void theServedNameCanBeChosen() {
        try (FusionServer server = Fixtures.serve(b -> b.modelName("fused-math").apiKey(null))) {
            assertEquals("fused-math", Fixtures.get(server, "/v1/models", null).json().at("/data/0/id").asText());
            Answer a = Fixtures.post(server, "/v1/completions", "{\"model\": \"fused-math\", \"prompt\": "
                    + q(Fixtures.QUESTION) + ", \"max_tokens\": 8}", null);
            assertEquals(200, a.status(), a.body());
            assertEquals("fused-math", a.json().path("model").asText());
            assertFalse(server.requiresApiKey());
        }
    }

    /**
     * Two tiny random-weight models with the real Llama 3 and Qwen 3 tokenizers and chat templates (shared
     * fixtures): each reads the conversation in its own template, and LangChain4j's OpenAI client gets what the
     * in-process adapter gets.
     */
    @Test
    void sourcesWithChatTemplatesReadTheirOwnFormat(@TempDir Path tmp) {
        Path fixtures = Path.of(System.getProperty("coolfusion.shared.dir", "../../shared"), "fixtures", "tokenizers");
        assumeTrue(Files.isDirectory(fixtures.resolve("llama3")), "skipped: shared fixtures not found at "
                + fixtures.toAbsolutePath() + " (set -Dcoolfusion.shared.dir)");
        try (DjlSourceModel llama3 = tiny(tmp.resolve("llama3"), fixtures.resolve("llama3"), TinyCheckpoints.Arch.LLAMA,
                128256, 21, "[128009, 128001]", "llama3");
             DjlSourceModel qwen3 = tiny(tmp.resolve("qwen3"), fixtures.resolve("qwen3"), TinyCheckpoints.Arch.QWEN2,
                     151936, 22, "[151645, 151643]", "qwen3")) {
            ConfiguredFusion fused = ConfiguredFusion.of(List.of(llama3, qwen3));
            SourcePrompts prompts = SourcePrompts.of(fused.sources());
            List<TemplateMessage> chat = List.of(TemplateMessage.system("Be brief."), TemplateMessage.user("2 + 3?"));
            assertTrue(prompts.render(0, chat).contains("<|start_header_id|>user<|end_header_id|>"), prompts.render(0, chat));
            assertTrue(prompts.render(1, chat).contains("<|im_start|>user\n2 + 3?<|im_end|>"), prompts.render(1, chat));
            try (FusionServer server = Fixtures.serve(fused, b -> {});
                 CoolFusionChatModel local = CoolFusionChatModel.builder().fusion(fused).build()) {
                OpenAiChatModel remote = OpenAiChatModel.builder().baseUrl(Fixtures.v1(server).toString()).apiKey(KEY)
                        .modelName(server.modelName()).timeout(Duration.ofMinutes(2)).maxRetries(0).build();
                List<ChatMessage> messages = List.of(SystemMessage.from("Be brief."), UserMessage.from("2 + 3?"));
                ChatRequest request = ChatRequest.builder().messages(messages).maxOutputTokens(6).build();
                ChatResponse expected = local.chat(request);
                ChatResponse actual = remote.chat(request);
                assertEquals(expected.aiMessage().text(), actual.aiMessage().text());
                assertEquals(expected.tokenUsage().inputTokenCount(), actual.tokenUsage().inputTokenCount());
                assertTrue(server.modelName().equals("cool-fusion(llama3+qwen3)"), server.modelName());
                Answer models = Fixtures.get(server, "/v1/models", KEY);
                assertTrue(models.json().at("/data/0/cool_fusion/sources/0/chat_template").asBoolean());
            }
            assertEquals(0, llama3.liveStates());
            assertEquals(0, qwen3.liveStates());
        }
    }

    private static DjlSourceModel tiny(Path folder, Path tokenizer, TinyCheckpoints.Arch arch, int vocab, long seed,
            String eos, String name) {
        try {
            TinyCheckpoints.write(folder, new TinyCheckpoints.Spec(arch, 32, 64, 2, 4, 2, vocab, 1024, true, false,
                    false, false, TinyCheckpoints.WeightType.F32, seed, Map.of(), Set.of()));
            Files.copy(tokenizer.resolve("tokenizer.json"), folder.resolve("tokenizer.json"),
                    StandardCopyOption.REPLACE_EXISTING);
            Files.copy(tokenizer.resolve("tokenizer_config.json"), folder.resolve("tokenizer_config.json"),
                    StandardCopyOption.REPLACE_EXISTING);
            Files.writeString(folder.resolve("generation_config.json"), "{\"eos_token_id\": " + eos + "}");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return DjlSourceModel.load(folder, DjlModelOptions.builder().name(name).build());
    }
}
