package dev.coolfusion.langchain4j;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.template.ChatTemplateRenderer;
import dev.coolfusion.template.PlainChatFormat;
import dev.coolfusion.template.TemplateMessage;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;

/**
 * Renders a conversation for every source with its own chat template and tokenizes it.
 *
 * <p>A source whose {@link TextCodec#chatTemplate()} is present gets the template's rendering with the generation
 * prompt, tokenized with {@link TextCodec#encode} (special-token strings become their ids, no begin-of-sequence id is
 * added: the template writes it, as in Hugging Face's {@code apply_chat_template(tokenize=True)}). A source without
 * a template gets {@link PlainChatFormat} ({@code "User: ...\nAssistant:"}), tokenized as a plain prompt with
 * {@link TextCodec#encodePrompt} (its begin-of-sequence id first).
 */
final class ChatPrompts {
    private final List<SourceModel> sources;
    private final List<ChatTemplateRenderer> renderers = new ArrayList<>();
    private final List<Boolean> templated = new ArrayList<>();

    ChatPrompts(List<SourceModel> sources) {
        this.sources = List.copyOf(requireNonNull(sources, "sources is null"));
        for (SourceModel source : this.sources) {
            var template = source.codec().chatTemplate();
            templated.add(template.isPresent());
            renderers.add(ChatTemplateRenderer.of(template.orElse(PlainChatFormat.TEMPLATE)));
        }
    }

    /** The prompt text for source {@code index}, with the generation prompt. */
    String render(int index, List<TemplateMessage> messages) {
        return renderers.get(index).render(messages, true);
    }

    /** Whether source {@code index} has its own chat template (else it gets the plain fallback). */
    boolean hasTemplate(int index) {
        return templated.get(index);
    }

    /** One token list per source: each source's rendering in its own tokenization. */
    List<List<Integer>> tokens(List<TemplateMessage> messages) {
        requireNonNull(messages, "messages is null");
        List<List<Integer>> out = new ArrayList<>(sources.size());
        for (int i = 0; i < sources.size(); i++) {
            TextCodec codec = sources.get(i).codec();
            String text = render(i, messages);
            out.add(templated.get(i) ? codec.encode(text).ids() : codec.encodePrompt(text));
        }
        return out;
    }
}
