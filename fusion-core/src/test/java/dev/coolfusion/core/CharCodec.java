package dev.coolfusion.core;

import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A test tokenizer: one token per char (id = char + 3; 1 = begin, 2 = end of sequence), with word rules that differ
 * the way real tokenizer families do. Chars listed as {@code wide} take two tokens: the char, then {@link #TAIL}, a
 * special token that decodes to nothing (as a byte-level tokenizer spends several tokens on some chars).
 */
final class CharCodec implements TextCodec {
    static final int BOS = 1;
    static final int EOS = 2;
    static final int TAIL = 0;

    enum Words {
        /** Pre-tokenizer style (Llama 3): letters, digits, other symbols and whitespace runs are separate words. */
        PRE_TOKENIZER("\\s?\\p{L}+|\\s?\\p{N}|\\s?[^\\s\\p{L}\\p{N}]+|\\s+"),
        /** SentencePiece style (Llama 2): a word starts at each space. */
        SPACES(" ?[^ ]+| ");

        final Pattern pattern;

        Words(String regex) {
            this.pattern = Pattern.compile(regex);
        }
    }

    private final Words words;
    private final String wide;

    CharCodec(Words words) {
        this(words, "");
    }

    CharCodec(Words words, String wide) {
        this.words = words;
        this.wide = wide;
    }

    @Override
    public Encoded encode(String text) {
        List<Integer> ids = new ArrayList<>();
        List<String> tokens = new ArrayList<>();
        for (char c : text.toCharArray()) {
            ids.add(c + 3);
            tokens.add(String.valueOf(c));
            if (wide.indexOf(c) >= 0) {
                ids.add(TAIL);
                tokens.add("");
            }
        }
        List<Span> spans = new ArrayList<>();
        Matcher m = words.pattern.matcher(text);
        int end = 0;
        while (m.find()) {
            if (m.start() > end && !spans.isEmpty()) {
                Span last = spans.remove(spans.size() - 1);
                spans.add(new Span(last.start(), m.start()));
            }
            spans.add(new Span(spans.isEmpty() ? 0 : m.start(), m.end()));
            end = m.end();
        }
        if (end < text.length()) {
            if (spans.isEmpty()) {
                spans.add(new Span(0, text.length()));
            } else {
                Span last = spans.remove(spans.size() - 1);
                spans.add(new Span(last.start(), text.length()));
            }
        }
        return new Encoded(text, ids, tokens, spans);
    }

    @Override
    public String decode(List<Integer> ids) {
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            if (id > 2) {
                sb.append((char) (id - 3));
            }
        }
        return sb.toString();
    }

    @Override
    public Set<Integer> endOfSequenceIds() {
        return Set.of(EOS);
    }

    @Override
    public OptionalInt beginOfSequenceId() {
        return OptionalInt.of(BOS);
    }

    @Override
    public boolean isSpecial(int id) {
        return id <= 2;
    }
}
