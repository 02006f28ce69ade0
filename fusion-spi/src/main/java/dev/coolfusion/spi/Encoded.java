package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * A text as a tokenizer sees it (T2): token ids, their surface strings, and the words they form.
 *
 * @param text   the encoded text
 * @param ids    token ids, without special tokens
 * @param tokens the tokenizer's string for each id (for display)
 * @param words  word spans in char offsets of {@code text}: they start at 0, are contiguous, cover the whole
 *               text and are non-empty. Whitespace before a word belongs to that word.
 */
public record Encoded(String text, List<Integer> ids, List<String> tokens, List<Span> words) {
    public Encoded {
        requireNonNull(text, "text is null");
        ids = List.copyOf(requireNonNull(ids, "ids is null"));
        tokens = List.copyOf(requireNonNull(tokens, "tokens is null"));
        words = List.copyOf(requireNonNull(words, "words is null"));
        if (ids.size() != tokens.size()) {
            throw new IllegalArgumentException("ids and tokens differ in length: " + ids.size() + " vs " + tokens.size());
        }
        int expected = 0;
        for (Span word : words) {
            if (word.start() != expected || word.length() == 0) {
                throw new IllegalArgumentException("words must be non-empty, contiguous and start at 0: " + words);
            }
            expected = word.end();
        }
        if (expected != text.length()) {
            throw new IllegalArgumentException("words must cover the text (length " + text.length() + "): " + words);
        }
    }
}
