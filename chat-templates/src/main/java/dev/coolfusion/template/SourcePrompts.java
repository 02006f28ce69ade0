package dev.coolfusion.template;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.TextCodec;
import java.util.List;
import java.util.Optional;

/**
 * One conversation as every fused source reads it: rendered with that source's own chat template and tokenized by
 * that source's codec, ready for {@code CoolFusion.generateFromTokens}.
 *
 * <p>Each source is prompted as Hugging Face's {@code apply_chat_template(messages, add_generation_prompt=True,
 * tokenize=True)} prompts it:
 * <ul>
 *   <li>a source with a {@linkplain TextCodec#chatTemplate() chat template} gets the template's rendering, tokenized
 *       with {@link TextCodec#encode}: special-token strings the template writes become their ids and no
 *       begin-of-sequence id is added (the template writes it where the model expects one);</li>
 *   <li>a source without one gets {@link PlainChatFormat} ({@code "User: ...\nAssistant:"}), tokenized as a plain
 *       prompt with {@link TextCodec#encodePrompt} (its begin-of-sequence id first).</li>
 * </ul>
 *
 * <p>A template that refuses the conversation ({@code raise_exception}, e.g. roles that do not alternate) throws a
 * {@link ChatTemplateException} naming the source. Instances are immutable and thread-safe: the OpenAI-compatible
 * server and the LangChain4j adapter share one per fusion.
 */
public final class SourcePrompts {
    private final List<Source> sources;

    /** One source: its model (for the name and codec), its renderer and whether the renderer is its own template. */
    private record Source(SourceModel model, ChatTemplateRenderer renderer, boolean ownTemplate) {}

    private SourcePrompts(List<Source> sources) {
        this.sources = sources;
    }

    /** The prompts of {@code sources}, in their order; each source's template is read once, here. */
    public static SourcePrompts of(List<? extends SourceModel> sources) {
        requireNonNull(sources, "sources is null");
        if (sources.isEmpty()) {
            throw new IllegalArgumentException("no sources to prompt");
        }
        return new SourcePrompts(sources.stream().map(model -> {
            Optional<ChatTemplate> own = requireNonNull(model, "a source is null").codec().chatTemplate();
            return new Source(model, ChatTemplateRenderer.of(own.orElse(PlainChatFormat.TEMPLATE)), own.isPresent());
        }).toList());
    }

    /** How many sources are prompted. */
    public int size() {
        return sources.size();
    }

    /** Whether source {@code index} has a chat template of its own (else it reads {@link PlainChatFormat}). */
    public boolean hasTemplate(int index) {
        return sources.get(index).ownTemplate();
    }

    /** The prompt text source {@code index} reads: the conversation and the header of the assistant's turn. */
    public String render(int index, List<TemplateMessage> messages) {
        requireNonNull(messages, "messages is null");
        Source source = sources.get(index);
        try {
            return source.renderer().render(messages, true);
        } catch (ChatTemplateException e) {
            throw new ChatTemplateException("the chat template of source '" + source.model().name() + "' refused the"
                    + " conversation: " + e.getMessage(), e);
        }
    }

    /** The prompt of source {@code index} in that source's tokens. */
    public List<Integer> tokens(int index, List<TemplateMessage> messages) {
        String text = render(index, messages);
        TextCodec codec = sources.get(index).model().codec();
        return hasTemplate(index) ? codec.encode(text).ids() : codec.encodePrompt(text);
    }

    /** Every source's prompt in its own tokens, in source order. */
    public List<List<Integer>> tokens(List<TemplateMessage> messages) {
        requireNonNull(messages, "messages is null");
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("the conversation has no messages");
        }
        return java.util.stream.IntStream.range(0, sources.size()).mapToObj(i -> tokens(i, messages)).toList();
    }
}
