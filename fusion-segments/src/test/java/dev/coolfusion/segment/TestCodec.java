package dev.coolfusion.segment;

import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tokenizer for T1's tests: one token per char (id = char + 3; 2 = end of sequence), except 'é', which takes two
 * byte-like tokens ({@link #E_FIRST}, {@link #E_SECOND}) and decodes to U+FFFD while only the first is there. Words
 * follow a regex; {@link #oneWord()} never splits, so it has no boundary at all.
 */
final class TestCodec implements TextCodec {
    static final int EOS = 2;
    static final int E_FIRST = 900;
    static final int E_SECOND = 901;
    /** Letters, digits and other symbols are words that take their leading space; whitespace runs are words too. */
    static final String PRE_TOKENIZER = "\\s?\\p{L}+|\\s?\\p{N}|\\s?[^\\s\\p{L}\\p{N}]+|\\s+";
    /** A word starts at each space. */
    static final String SPACES = " ?[^ ]+| ";

    private final Pattern words;
    final List<String> encoded = new ArrayList<>();

    TestCodec(String regex) {
        this.words = regex == null ? null : Pattern.compile(regex);
    }

    static TestCodec oneWord() {
        return new TestCodec(null);
    }

    static List<Integer> ids(String text) {
        List<Integer> ids = new ArrayList<>();
        for (char c : text.toCharArray()) {
            if (c == 'é') {
                ids.add(E_FIRST);
                ids.add(E_SECOND);
            } else {
                ids.add(c + 3);
            }
        }
        return ids;
    }

    @Override
    public Encoded encode(String text) {
        synchronized (encoded) {
            encoded.add(text);
        }
        List<Integer> ids = ids(text);
        List<String> tokens = new ArrayList<>();
        ids.forEach(id -> tokens.add(decode(List.of(id))));
        List<Span> spans = new ArrayList<>();
        if (words == null) {
            if (!text.isEmpty()) {
                spans.add(new Span(0, text.length()));
            }
            return new Encoded(text, ids, tokens, spans);
        }
        Matcher m = words.matcher(text);
        while (m.find()) {
            spans.add(new Span(m.start(), m.end()));
        }
        return new Encoded(text, ids, tokens, spans);
    }

    @Override
    public String decode(List<Integer> ids) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ids.size(); i++) {
            int id = ids.get(i);
            if (id == E_FIRST) {
                boolean complete = i + 1 < ids.size() && ids.get(i + 1) == E_SECOND;
                sb.append(complete ? 'é' : '\uFFFD');
                i += complete ? 1 : 0;
            } else if (id == E_SECOND) {
                sb.append('\uFFFD');
            } else if (id > 2) {
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
    public boolean isSpecial(int id) {
        return id <= 2;
    }
}
