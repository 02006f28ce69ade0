package dev.coolfusion.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link HfTextCodec#chatTemplate()} and how rendered prompts with special-token strings are tokenized. */
class HfTextCodecChatTemplateTest {

    @Test
    void llama3TemplateAndSpecialTokens() {
        ChatTemplate template = RealTokenizers.get("llama3").chatTemplate().orElseThrow();
        assertTrue(template.source().contains("<|start_header_id|>"), template.source());
        assertEquals(Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|end_of_text|>"), template.specialTokens());
        assertEquals("<|begin_of_text|>", template.bosToken().orElseThrow());
    }

    @Test
    void specialTokenStringsInARenderedPromptEncodeToTheirIdsWithoutAnExtraBos() {
        HfTextCodec llama3 = RealTokenizers.get("llama3");
        List<Integer> ids = llama3.encode("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>").ids();
        // <|begin_of_text|> 128000, <|start_header_id|> 128006, "user" 882, <|end_header_id|> 128007, "\n\n" 271,
        // "Hi" 13347, <|eot_id|> 128009: each special string is one special id, and no second BOS is added.
        assertEquals(List.of(128000, 128006, 882, 128007, 271, 13347, 128009), ids);
        HfTextCodec qwen3 = RealTokenizers.get("qwen3");
        List<Integer> q = qwen3.encode("<|im_start|>user\nHi<|im_end|>\n").ids();
        assertEquals(151644, q.get(0), "<|im_start|>");
        assertTrue(q.contains(151645), "<|im_end|>: " + q);
    }

    @Test
    void tokenizersWithoutTemplate() {
        assertFalse(RealTokenizers.get("llama2").chatTemplate().isPresent());
    }

    @Test
    void templateFromJinjaFileOrNamedList(@TempDir Path dir) throws IOException {
        Path tiny = SharedFixtures.root().resolve("hf-tiny/llama");
        Files.copy(tiny.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"},"
                + " \"chat_template\": [{\"name\": \"rag\", \"template\": \"R\"}, {\"name\": \"default\", \"template\": \"D\"}]}");
        try (HfTextCodec codec = HfTextCodec.load(dir)) {
            assertEquals(ChatTemplate.of("D", Map.of("bos_token", "<s>", "eos_token", "</s>")), codec.chatTemplate().orElseThrow());
            try (HfTextCodec copy = codec.withEndOfSequenceIds(java.util.Set.of(2))) {
                assertEquals(codec.chatTemplate(), copy.chatTemplate());
            }
        }
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ bos_token }}J");
        try (HfTextCodec codec = HfTextCodec.load(dir)) {
            assertEquals("{{ bos_token }}J", codec.chatTemplate().orElseThrow().source());
        }
        Files.delete(dir.resolve("chat_template.jinja"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"R\"}]}");
        assertThrows(FusionException.class, () -> HfTextCodec.load(dir));
    }
}
