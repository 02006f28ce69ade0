package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.inject.CoolFusionModule;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.SourceModel;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.language.LanguageModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The three ways to build the adapters (YAML config, source models or a fusion, Guice) and the raw LanguageModel. */
class ConstructionAndLanguageModelTest {

    @Test
    void languageModelCompletesARawPromptWithoutTemplate() {
        CoolFusionLanguageModel model = CoolFusionLanguageModel.builder().sources(TinyFusedModels.both())
                .maxOutputTokens(5).build();
        String prompt = "Question: what is 2 + 3?\nAnswer:";
        Response<String> r = model.generate(prompt);
        assertNotNull(r.content());
        assertTrue(r.tokenUsage().outputTokenCount() <= 5);
        // raw completion: each source tokenizes the prompt itself, no chat template
        assertEquals(TinyFusedModels.llama3().codec().encodePrompt(prompt).size(), r.tokenUsage().inputTokenCount());
        @SuppressWarnings("unchecked")
        Map<String, Integer> prompts = (Map<String, Integer>) r.metadata().get("promptTokens");
        assertEquals(TinyFusedModels.qwen3().codec().encodePrompt(prompt).size(), prompts.get("qwen3"));
        assertTrue(r.finishReason() == FinishReason.LENGTH || r.finishReason() == FinishReason.STOP);
        assertFalse(((List<?>) r.metadata().get("steps")).isEmpty());
        TinyFusedModels.both().forEach(m -> assertEquals(0, m.liveStates()));
    }

    @Test
    void fromTheEvalYamlConfigWithItsOptions() throws Exception {
        Path yaml = TinyFusedModels.yaml("  max-new-tokens: 3\n  stop: [\"\\n\\n\"]\n");
        String answer;
        try (CoolFusionChatModel model = CoolFusionChatModel.builder().config(yaml).build()) {
            assertEquals(3, model.defaultRequestParameters().maxOutputTokens());
            assertEquals(List.of("\n\n"), model.defaultRequestParameters().stopSequences());
            answer = model.chat("Hi");
            assertTrue(model.chat(dev.langchain4j.model.chat.request.ChatRequest.builder()
                    .messages(dev.langchain4j.data.message.UserMessage.from("Hi")).build()).tokenUsage().outputTokenCount() <= 3);
            List<SourceModel> sources = model.fusion().sources();
            model.close();
            // the model created the sources, so closing it closed them
            assertThrows(RuntimeException.class, () -> sources.get(0).open(List.of(1)));
        }
        // the same config on the shared (identical) models gives the same greedy answer
        CoolFusionChatModel same = CoolFusionChatModel.builder().fusion(CoolFusion.builder().sources(TinyFusedModels.both()).build(),
                FusionConfigLoader.load(yaml).options()).build();
        assertEquals(answer, same.chat("Hi"));
    }

    @Test
    void throughGuice() throws Exception {
        Path yaml = TinyFusedModels.yaml("  max-new-tokens: 2\n");
        Injector injector = Guice.createInjector(new CoolFusionModule(FusionConfigLoader.load(yaml)),
                new CoolFusionLangChain4jModule());
        try {
            ChatModel chat = injector.getInstance(ChatModel.class);
            assertNotNull(chat.chat("Hi"));
            assertNotNull(injector.getInstance(StreamingChatModel.class));
            Response<String> completion = injector.getInstance(LanguageModel.class).generate("Once upon a time");
            assertTrue(completion.tokenUsage().outputTokenCount() <= 2);
            assertEquals(2, CoolFusionLangChain4jModule.chatModel(injector).defaultRequestParameters().maxOutputTokens());
        } finally {
            injector.getInstance(Key.get(new TypeLiteral<List<SourceModel>>() {})).forEach(SourceModel::close);
        }
    }

    @Test
    void aBuilderWithoutModelsSaysWhatIsMissing() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CoolFusionChatModel.builder().build());
        assertTrue(e.getMessage().contains("config(path)"), e.getMessage());
        assertThrows(dev.coolfusion.spi.FusionException.class, () -> CoolFusionChatModel.builder()
                .config(Path.of("no/such/fusion.yaml")).build());
    }

    @Test
    void providerProblemsOfAConfigAreFusionExceptionsWithTheBuilderAndWithGuice() throws Exception {
        // Two sources with one name: before, CoolFusion.Builder's IllegalStateException.
        Path twins = TinyFusedModels.directory().resolve("twins.yaml");
        java.nio.file.Files.writeString(twins, "sources:\n"
                + "  - provider: djl\n    options: {path: llama3, name: A}\n"
                + "  - provider: djl\n    options: {path: qwen3, name: A}\n");
        dev.coolfusion.spi.FusionException dup = assertThrows(dev.coolfusion.spi.FusionException.class,
                () -> CoolFusionChatModel.builder().config(twins).build());
        assertTrue(dup.getMessage().contains("two sources are named 'A'"), dup.getMessage());
        Path unknown = TinyFusedModels.directory().resolve("unknown.yaml");
        java.nio.file.Files.writeString(unknown, "sources:\n  - provider: djl\n    options: {path: llama3, colour: red}\n");
        dev.coolfusion.spi.FusionException option = assertThrows(dev.coolfusion.spi.FusionException.class,
                () -> CoolFusionChatModel.builder().config(unknown).build());
        assertTrue(option.getMessage().contains("colour"), option.getMessage());

        // Guice wraps the FusionException in a ProvisionException; the adapter's shortcut and
        // CoolFusionModule.getInstance give the FusionException itself.
        Injector injector = Guice.createInjector(new CoolFusionModule(FusionConfigLoader.load(twins)),
                new CoolFusionLangChain4jModule());
        assertThrows(com.google.inject.ProvisionException.class, () -> injector.getInstance(ChatModel.class));
        dev.coolfusion.spi.FusionException viaShortcut = assertThrows(dev.coolfusion.spi.FusionException.class,
                () -> CoolFusionLangChain4jModule.chatModel(injector));
        assertEquals(dup.getMessage(), viaShortcut.getMessage());
        dev.coolfusion.spi.FusionException viaHelper = assertThrows(dev.coolfusion.spi.FusionException.class,
                () -> CoolFusionModule.getInstance(injector, ChatModel.class));
        assertEquals(dup.getMessage(), viaHelper.getMessage());
        for (DjlSourceModel m : TinyFusedModels.both()) {
            assertEquals(0, m.liveStates());
        }
    }

    @Test
    void invalidParametersAreInvalidRequests() {
        CoolFusionChatModel model = CoolFusionChatModel.builder()
                .fusion(CoolFusion.builder().sources(TinyFusedModels.both()).build(), FusionOptions.defaults()).build();
        assertThrows(dev.langchain4j.exception.InvalidRequestException.class, () -> model.chat(
                dev.langchain4j.model.chat.request.ChatRequest.builder().maxOutputTokens(0)
                        .messages(dev.langchain4j.data.message.UserMessage.from("Hi")).build()));
        for (DjlSourceModel m : TinyFusedModels.both()) {
            assertEquals(0, m.liveStates());
        }
    }
}
