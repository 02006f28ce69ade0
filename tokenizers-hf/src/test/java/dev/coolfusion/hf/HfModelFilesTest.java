package dev.coolfusion.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.template.ChatTemplateRenderer;
import dev.coolfusion.template.TemplateMessage;
import dev.coolfusion.spi.FusionException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real templates from the shared tokenizer fixtures (Llama 3, Qwen 3), with expected prompts worked out from the
 * template text, and the reading of {@code tokenizer_config.json}.
 */
class HfModelFilesTest {
    @TempDir
    Path tmp;

    private static Path tokenizerConfig(String family) {
        String shared = System.getProperty("coolfusion.shared.dir");
        Path file = Path.of(shared == null ? "../../shared" : shared, "fixtures", "tokenizers", family, "tokenizer_config.json");
        assumeTrue(Files.isRegularFile(file), "skipped: shared fixture " + file.toAbsolutePath()
                + " is missing (set -Dcoolfusion.shared.dir)");
        return file;
    }

    private static String render(Path config, List<TemplateMessage> messages, boolean generationPrompt) {
        ChatTemplate template = HfModelFiles.fromTokenizerConfig(config).orElseThrow();
        return ChatTemplateRenderer.of(template).render(messages, generationPrompt);
    }

    @Test
    void llama3HeadersEotAndBos() {
        Path config = tokenizerConfig("llama3");
        List<TemplateMessage> chat = List.of(
                TemplateMessage.system("You are a helpful assistant."),
                TemplateMessage.user("  What is 2+2? \n"),
                TemplateMessage.assistant("4"),
                TemplateMessage.user("And 3+3?"));
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        assertEquals(expected, render(config, chat, true));
        // This (base model) template writes the assistant header whatever add_generation_prompt says.
        assertEquals(expected, render(config, chat, false));
    }

    @Test
    void qwen3MultiTurnWithSystem() {
        Path config = tokenizerConfig("qwen3");
        List<TemplateMessage> chat = List.of(
                TemplateMessage.system("You are Qwen."),
                TemplateMessage.user("Hi"),
                TemplateMessage.assistant("Hello! How can I help?"),
                TemplateMessage.user("What is 2+2?"));
        assertEquals("<|im_start|>system\nYou are Qwen.<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
                + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                + "<|im_start|>assistant\n", render(config, chat, true));
        assertEquals("<|im_start|>user\nHi<|im_end|>\n", render(config, List.of(TemplateMessage.user("Hi")), false));
    }

    @Test
    void qwen3SplitsThinkingOfTheLastAnswer() {
        Path config = tokenizerConfig("qwen3");
        ChatTemplate template = HfModelFiles.fromTokenizerConfig(config).orElseThrow();
        List<TemplateMessage> chat = List.of(TemplateMessage.user("Hi"),
                TemplateMessage.assistant("<think>\nhmm\n</think>\n\nHello"));
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello<|im_end|>\n",
                ChatTemplateRenderer.of(template).render(chat, false));
        List<Map<String, String>> maps = List.of(Map.of("role", "user", "content", "Hi"));
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                ChatTemplateRenderer.of(template).render(maps, true, Map.of("enable_thinking", false)));
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                ChatTemplateRenderer.of(template).render(maps, true, Map.of("enable_thinking", true)));
    }

    @Test
    void specialTokensFromConfig() {
        ChatTemplate llama3 = HfModelFiles.fromTokenizerConfig(tokenizerConfig("llama3")).orElseThrow();
        assertEquals(Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|end_of_text|>"), llama3.specialTokens());
        ChatTemplate qwen3 = HfModelFiles.fromTokenizerConfig(tokenizerConfig("qwen3")).orElseThrow();
        // bos_token is null in Qwen's config, so the template sees it undefined
        assertEquals(Map.of("eos_token", "<|im_end|>", "pad_token", "<|endoftext|>"), qwen3.specialTokens());
    }

    @Test
    void listOfNamedTemplatesAndJinjaFile() throws Exception {
        Path config = tmp.resolve("tokenizer_config.json");
        Files.writeString(config, "{\"bos_token\": {\"content\": \"<s>\", \"__type\": \"AddedToken\"}, \"unk_token\": null,"
                + "\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"{{ bos_token }}D\"}]}");
        ChatTemplate template = HfModelFiles.fromTokenizerConfig(config).orElseThrow();
        assertEquals("{{ bos_token }}D", template.source());
        assertEquals(Map.of("bos_token", "<s>"), template.specialTokens());
        assertEquals("T", HfModelFiles.fromTokenizerConfig(config, "tool_use").orElseThrow().source());
        assertThrows(FusionException.class, () -> HfModelFiles.fromTokenizerConfig(config, "nope"));
        Files.writeString(tmp.resolve("chat_template.jinja"), "J");
        assertEquals("J", HfModelFiles.fromTokenizerConfig(tmp).orElseThrow().source());
    }

    @Test
    void noTemplateAndBadFiles() throws Exception {
        Path config = tmp.resolve("tokenizer_config.json");
        Files.writeString(config, "{\"eos_token\": \"</s>\"}");
        assertTrue(HfModelFiles.fromTokenizerConfig(config).isEmpty());
        Files.writeString(config, "{not json");
        FusionException e = assertThrows(FusionException.class, () -> HfModelFiles.fromTokenizerConfig(config));
        assertTrue(e.getMessage().startsWith("cannot parse tokenizer config"), e.getMessage());
        assertThrows(FusionException.class, () -> HfModelFiles.fromTokenizerConfig(tmp.resolve("missing.json")));
    }

    @Test
    void theCodecReadsItsTemplateThroughTheSameReaderWithTheSameErrors() throws Exception {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        Files.copy(SharedFixtures.tokenizer("llama3").resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"eos_token\": \"</s>\", \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}]}");
        FusionException direct = assertThrows(FusionException.class, () -> HfModelFiles.fromTokenizerConfig(dir));
        FusionException codec = assertThrows(FusionException.class, () -> HfTextCodec.load(dir));
        assertEquals(direct.getMessage(), codec.getMessage());
        assertTrue(codec.getMessage().contains("no chat template named 'default'"), codec.getMessage());

        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\", \"chat_template\": 7}");
        assertEquals(assertThrows(FusionException.class, () -> HfModelFiles.fromTokenizerConfig(dir)).getMessage(),
                assertThrows(FusionException.class, () -> HfTextCodec.load(dir)).getMessage());

        Files.writeString(dir.resolve("chat_template.jinja"), "{{ eos_token }}J");
        try (HfTextCodec loaded = HfTextCodec.load(dir)) {
            assertEquals(HfModelFiles.fromTokenizerConfig(dir), loaded.chatTemplate());
            assertEquals("{{ eos_token }}J", loaded.chatTemplate().orElseThrow().source());
            assertEquals(Map.of("eos_token", "</s>"), loaded.chatTemplate().orElseThrow().specialTokens());
        }
    }
}
