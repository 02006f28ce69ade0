package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

/**
 * A prompt (or a whole text to score) that does not fit a source's context ({@link SourceModel#maxContextTokens()}).
 * Nothing is truncated silently: the caller shortens its input. A generation that <em>runs</em> out of context is no
 * error; it ends with the text so far (finish reason {@code LENGTH}).
 */
public class ContextLengthExceededException extends FusionException {
    private final String source;
    private final int tokens;
    private final int maxContextTokens;

    /**
     * @param source           the source's name
     * @param tokens           how many tokens the input has in that source's tokenization
     * @param maxContextTokens the source's limit
     * @param message          what does not fit and what to do
     */
    public ContextLengthExceededException(String source, int tokens, int maxContextTokens, String message) {
        super(message);
        this.source = requireNonNull(source, "source is null");
        this.tokens = tokens;
        this.maxContextTokens = maxContextTokens;
    }

    /** The source whose context is too small. */
    public String source() {
        return source;
    }

    /** The input's length in that source's tokens. */
    public int tokens() {
        return tokens;
    }

    /** The source's max context, in tokens. */
    public int maxContextTokens() {
        return maxContextTokens;
    }
}
