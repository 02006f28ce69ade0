package dev.coolfusion.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.TextCodec;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Each source reads the conversation in its own format and tokenization. */
class SourcePromptsTest {
    static final String TEMPLATE = "{{ bos_token }}{% for m in messages %}"
            + "{% if m.role == 'system' %}{{ raise_exception('no system messages') }}{% endif %}"
            + "[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";

    /** One id per char (code point + 10); "<s>" is the special id 1, also the begin-of-sequence id. */
    record CharCodec(Optional<ChatTemplate> template) implements TextCodec {
        @Override
        public Encoded encode(String text) {
            List<Integer> ids = new ArrayList<>();
            List<String> tokens = new ArrayList<>();
            for (int i = 0; i < text.length(); i++) {
                if (text.startsWith("<s>", i)) {
                    ids.add(1);
                    tokens.add("<s>");
                    i += 2;
                } else {
                    ids.add(text.charAt(i) + 10);
                    tokens.add(String.valueOf(text.charAt(i)));
                }
            }
            return new Encoded(text, ids, tokens, text.isEmpty() ? List.of() : List.of(new Span(0, text.length())));
        }

        @Override
        public String decode(List<Integer> ids) {
            StringBuilder s = new StringBuilder();
            ids.forEach(id -> s.append(id == 1 ? "" : String.valueOf((char) (id - 10))));
            return s.toString();
        }

        @Override
        public Set<Integer> endOfSequenceIds() {
            return Set.of(2);
        }

        @Override
        public OptionalInt beginOfSequenceId() {
            return OptionalInt.of(1);
        }

        @Override
        public boolean isSpecial(int id) {
            return id < 10;
        }

        @Override
        public Optional<ChatTemplate> chatTemplate() {
            return template;
        }
    }

    static SourceModel source(String name, Optional<ChatTemplate> template) {
        CharCodec codec = new CharCodec(template);
        return (SourceModel) Proxy.newProxyInstance(SourceModel.class.getClassLoader(), new Class<?>[] {SourceModel.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "name" -> name;
                    case "codec" -> codec;
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    final SourcePrompts prompts = SourcePrompts.of(List.of(
            source("T", Optional.of(ChatTemplate.of(TEMPLATE, Map.of("bos_token", "<s>")))),
            source("P", Optional.empty())));

    @Test
    void eachSourceReadsItsOwnFormatInItsOwnTokens() {
        List<TemplateMessage> chat = List.of(TemplateMessage.user("hi"), TemplateMessage.assistant("yo"),
                TemplateMessage.user("2+3?"));
        assertEquals(2, prompts.size());
        assertTrue(prompts.hasTemplate(0));
        assertFalse(prompts.hasTemplate(1));
        assertEquals("<s>[user]hi[assistant]yo[user]2+3?[assistant]", prompts.render(0, chat));
        assertEquals("User: hi\nAssistant: yo\nUser: 2+3?\nAssistant:", prompts.render(1, chat));
        List<List<Integer>> tokens = prompts.tokens(chat);
        CharCodec codec = new CharCodec(Optional.empty());
        // the template writes the begin-of-sequence token: encoded as its id, nothing added
        assertEquals(codec.encode("<s>[user]hi[assistant]yo[user]2+3?[assistant]").ids(), tokens.get(0));
        assertEquals(1, tokens.get(0).get(0));
        assertEquals(1, tokens.get(0).stream().filter(id -> id == 1).count());
        // the plain format is a plain prompt: begin-of-sequence id first
        assertEquals(codec.encodePrompt("User: hi\nAssistant: yo\nUser: 2+3?\nAssistant:"), tokens.get(1));
        assertEquals(tokens.get(0), prompts.tokens(0, chat));
    }

    @Test
    void aTemplateThatRefusesTheConversationIsNamed() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> prompts.tokens(List.of(TemplateMessage.system("be brief"), TemplateMessage.user("hi"))));
        assertTrue(e.getMessage().contains("source 'T'") && e.getMessage().contains("no system messages"),
                e.getMessage());
        assertEquals("be brief\n\nUser: hi\nAssistant:", prompts.render(1, List.of(TemplateMessage.system("be brief"),
                TemplateMessage.user("hi"))));
        assertThrows(IllegalArgumentException.class, () -> prompts.tokens(List.of()));
        assertThrows(IllegalArgumentException.class, () -> SourcePrompts.of(List.of()));
    }
}
