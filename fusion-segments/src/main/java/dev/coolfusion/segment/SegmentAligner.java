package dev.coolfusion.segment;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.TextCodec;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeSet;

/**
 * Finds where a text may be cut so that every tokenizer agrees it is a word boundary (Section 2.2).
 *
 * <p>For a text s, each codec v encodes s into words w1..wj. Its <em>boundaries</em> are the ends of w1..w(j-1):
 * the last word is left out because more text may still extend it. A cut is <em>common</em> when it is a boundary
 * of every codec. Offsets count Java {@code char}s. T1 also waits while a cut would fall inside a run of
 * whitespace at the end of the text, which later whitespace can still merge with.
 */
public final class SegmentAligner {
    private final List<TextCodec> codecs;

    public SegmentAligner(List<TextCodec> codecs) {
        requireNonNull(codecs, "codecs is null");
        if (codecs.isEmpty()) {
            throw new IllegalArgumentException("at least one tokenizer is needed to align segments");
        }
        this.codecs = List.copyOf(codecs);
    }

    public List<TextCodec> codecs() {
        return codecs;
    }

    /** The ends of all words but the last, ascending: the places where this tokenizer lets a segment end. */
    public static TreeSet<Integer> boundaries(Encoded encoded) {
        TreeSet<Integer> out = new TreeSet<>();
        List<Span> words = encoded.words();
        for (int i = 0; i + 1 < words.size(); i++) {
            out.add(words.get(i).end());
        }
        return out;
    }

    /** The boundaries that every codec shares, for {@code text} as a continuation of earlier text. */
    public TreeSet<Integer> commonBoundaries(String text) {
        requireNonNull(text, "text is null");
        return commonBoundaries(codecs.stream().map(codec -> codec.encodeContinuation(text)).toList());
    }

    /** The boundaries that all given encodings (of one text) share. */
    public static TreeSet<Integer> commonBoundaries(List<Encoded> encodings) {
        requireNonNull(encodings, "encodings is null");
        return common(encodings, 0, Integer.MAX_VALUE);
    }

    /**
     * The boundaries in [{@code from}, {@code to}] that all encodings share. Encodings are taken one at a time and the
     * rest are not asked for once none is left, so a lazy {@code encodings} skips tokenizers whose answer cannot matter.
     */
    private static TreeSet<Integer> common(Iterable<Encoded> encodings, int from, int to) {
        if (to < from) {
            return new TreeSet<>();
        }
        TreeSet<Integer> common = null;
        for (Encoded encoded : encodings) {
            TreeSet<Integer> own = new TreeSet<>(boundaries(encoded).subSet(from, true, to, true));
            if (common == null) {
                common = own;
            } else {
                common.retainAll(own);
            }
            if (common.isEmpty()) {
                break;
            }
        }
        return common == null ? new TreeSet<>() : common;
    }

    /**
     * The end of the segment T1 accepts for {@code text}: the shortest (or longest) non-empty prefix that ends at a
     * common boundary, if there is one.
     */
    public OptionalInt segmentEnd(String text, SegmentChoice choice) {
        requireNonNull(text, "text is null");
        // Like the last word, a run of whitespace at the end may still grow and merge backwards (Llama 3 joins
        // "\n\n\n" and a following " \n" into one word), so no cut is final inside it; its start is.
        // T1 calls this after every generated token and most calls find no common boundary early: the encodings are
        // made lazily, so the other tokenizers are not asked once one of them has no usable boundary.
        Iterable<Encoded> encodings = () -> codecs.stream().map(codec -> codec.encodeContinuation(text)).iterator();
        TreeSet<Integer> common = common(encodings, 1, trailingWhitespaceStart(text));
        if (common.isEmpty()) {
            return OptionalInt.empty();
        }
        return OptionalInt.of(choice == SegmentChoice.LONGEST ? common.last() : common.first());
    }

    /**
     * Replays {@code tokens} one at a time as T1 does for a model that generated them, and returns the first
     * segment it accepts, if any. {@code continuation} says whether the tokens follow earlier text.
     */
    public Optional<String> firstSegment(TextCodec proposer, List<Integer> tokens, boolean continuation,
            SegmentChoice choice) {
        requireNonNull(proposer, "proposer is null");
        requireNonNull(tokens, "tokens is null");
        for (int k = 1; k <= tokens.size(); k++) {
            List<Integer> prefix = tokens.subList(0, k);
            String text = decodablePrefix(continuation ? proposer.decodeContinuation(prefix) : proposer.decode(prefix));
            OptionalInt end = segmentEnd(text, choice);
            if (end.isPresent()) {
                return Optional.of(text.substring(0, end.getAsInt()));
            }
        }
        return Optional.empty();
    }

    private static int trailingWhitespaceStart(String text) {
        int i = text.length();
        while (i > 0 && Character.isWhitespace(text.charAt(i - 1))) {
            i--;
        }
        return i;
    }

    /** The text before the first U+FFFD: a character whose bytes are not all generated yet is not text. */
    public static String decodablePrefix(String decoded) {
        int bad = decoded.indexOf('\uFFFD');
        return bad < 0 ? decoded : decoded.substring(0, bad);
    }
}
