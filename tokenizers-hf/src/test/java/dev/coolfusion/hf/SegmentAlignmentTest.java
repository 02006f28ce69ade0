package dev.coolfusion.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.segment.SegmentAligner;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** T1's word-boundary alignment on the real Llama 3, Llama 2 and Qwen 3 tokenizers. */
class SegmentAlignmentTest {

    private static List<TextCodec> codecs(String... families) {
        List<TextCodec> out = new ArrayList<>();
        for (String family : families) {
            out.add(RealTokenizers.get(family));
        }
        return out;
    }

    /** The segment T1 accepts when the first family's model generates {@code text} token by token. */
    private static Optional<String> segment(String text, boolean continuation, String... families) {
        List<TextCodec> codecs = codecs(families);
        TextCodec proposer = codecs.get(0);
        List<Integer> tokens = (continuation ? proposer.encodeContinuation(text) : proposer.encode(text)).ids();
        return new SegmentAligner(codecs).firstSegment(proposer, tokens, continuation, SegmentChoice.SHORTEST);
    }

    @ParameterizedTest
    @CsvSource({"llama3,llama2", "llama2,llama3", "qwen3,llama2", "llama2,qwen3"})
    void multiTaskingIsOneSegmentNotMulti(String a, String b) {
        assertEquals(Optional.of("Multi-tasking"), segment("Multi-tasking is hard.", false, a, b));
    }

    @Test
    void multiTaskingWithThreeTokenizers() {
        assertEquals(Optional.of("Multi-tasking"), segment("Multi-tasking is hard.", false, "qwen3", "llama3", "llama2"));
    }

    @Test
    void leadingSpaceBelongsToTheWord() {
        // "not the" after "LLMs are": the space before "not" is part of the word " not" in every family.
        assertEquals(Optional.of(" not"), segment(" not the", true, "llama3", "llama2"));
        assertEquals(Optional.of(" not"), segment(" not the", true, "llama2", "llama3"));
        assertEquals(Optional.of("not"), segment("not the", true, "llama3", "llama2"));
    }

    @Test
    void digitsAlignToTheCoarsestGrouping() {
        // llama3 groups up to three digits (123|45), qwen3 splits every digit, llama2 splits digits into tokens
        // but has no word boundary between them (no space marker).
        assertEquals(Optional.of("123"), segment("12345 apples", true, "llama3", "qwen3"));
        assertEquals(Optional.of("12345"), segment("12345 apples", true, "llama3", "llama2"));
        assertEquals(Optional.of("1"), segment("12345 apples", true, "qwen3"));
    }

    @Test
    void cjkSplitOverByteTokensIsNeverCutInsideACharacter() {
        for (String proposer : List.of("llama3", "qwen3", "llama2")) {
            List<String> order = new ArrayList<>(List.of("llama3", "qwen3", "llama2"));
            order.remove(proposer);
            order.add(0, proposer);
            Optional<String> s = segment("日本語 世界 😀👍🏽 ok", true, order.toArray(String[]::new));
            assertEquals(Optional.of("日本語"), s, proposer);
        }
        // A byte-level model that has generated only some bytes of a character has no text to cut yet.
        TextCodec llama3 = RealTokenizers.get("llama3");
        List<Integer> bytes = llama3.encodeContinuation("😀 x").ids();
        assertTrue(llama3.decodeContinuation(bytes.subList(0, 1)).contains("\uFFFD"));
        assertEquals("", SegmentAligner.decodablePrefix(llama3.decodeContinuation(bytes.subList(0, 1))));
    }

    @Test
    void punctuationEmojiAndWhitespace() {
        assertEquals(Optional.of("Hello"), segment("Hello, world!\n\tNext", true, "llama3", "qwen3"));
        assertEquals(Optional.of("Hello,"), segment("Hello, world!\n\tNext", true, "llama3", "llama2"));
        assertEquals(Optional.of(" end"), segment(" end.\n\nNew", true, "llama3", "qwen3"));
        // Llama 2 starts words only at a space marker, so newlines never separate its words.
        assertEquals(Optional.empty(), segment(" end.\n\nNew", true, "llama3", "llama2"));
        assertEquals(Optional.of("a"), segment("a  b", true, "llama3", "llama2", "qwen3"));
        assertEquals(Optional.of("Yes"), segment("Yes 👍🏽 done", true, "llama2", "llama3"));
        // Only whitespace so far: nothing to cut until a word follows.
        assertEquals(Optional.empty(), segment("\n\n \t", true, "llama3", "llama2"));
    }

    @Test
    void trailingWhitespaceRunIsNotCut() {
        // Llama 3 reads "\n\n\n" then " " as two words, but a later "\n" merges them into one.
        SegmentAligner aligner = new SegmentAligner(codecs("llama3", "qwen3"));
        assertTrue(aligner.commonBoundaries("x\n\n\n ").contains(4));
        assertFalse(aligner.commonBoundaries("x\n\n\n \n").contains(4));
        assertEquals(OptionalInt.of(1), aligner.segmentEnd("x\n\n\n ", SegmentChoice.SHORTEST));
        assertEquals(OptionalInt.of(1), aligner.segmentEnd("x\n\n\n ", SegmentChoice.LONGEST));
    }

    @Test
    void longestChoiceTakesTheLastCompleteWord() {
        SegmentAligner aligner = new SegmentAligner(codecs("llama3", "qwen3"));
        assertEquals(OptionalInt.of(7), aligner.segmentEnd("the cat sat", SegmentChoice.LONGEST));
        assertEquals(OptionalInt.of(3), aligner.segmentEnd("the cat sat", SegmentChoice.SHORTEST));
    }

    /** Word starts of a text under one tokenizer, read directly from its word spans. */
    private static Set<Integer> wordStarts(TextCodec codec, String text) {
        Encoded e = codec.encodeContinuation(text);
        return e.words().stream().map(Span::start).collect(Collectors.toSet());
    }

    @Test
    void propertyAcceptedSegmentsEndAtEveryTokenizersBoundaryAndNoneIsSkipped() {
        List<List<String>> groups = List.of(List.of("llama3", "llama2", "qwen3"), List.of("llama3", "llama2"),
                List.of("llama2", "qwen3"), List.of("qwen3", "llama3"));
        Random random = new Random(20261128);
        int accepted = 0;
        for (int i = 0; i < 400; i++) {
            String text = RandomText.next(random);
            List<String> group = groups.get(i % groups.size());
            List<TextCodec> codecs = codecs(group.toArray(String[]::new));
            SegmentAligner aligner = new SegmentAligner(codecs);
            OptionalInt whole = aligner.segmentEnd(text, SegmentChoice.SHORTEST);
            for (TextCodec proposer : codecs) {
                List<Integer> tokens = proposer.encodeContinuation(text).ids();
                Optional<String> segment = aligner.firstSegment(proposer, tokens, true, SegmentChoice.SHORTEST);
                String where = group + " proposer " + proposer + " text [" + text + "]";
                // Replaying token by token finds exactly the shortest common cut of the whole text: no shorter one
                // was skipped, and none was taken that more text would undo.
                assertEquals(whole.isPresent() ? Optional.of(text.substring(0, whole.getAsInt())) : Optional.empty(),
                        segment, where);
                if (segment.isPresent()) {
                    accepted++;
                    String s = segment.get();
                    assertFalse(s.isEmpty(), where);
                    assertFalse(s.contains("\uFFFD"), where);
                    assertFalse(Character.isLowSurrogate(text.charAt(s.length())), where);
                    for (TextCodec codec : codecs) {
                        assertTrue(wordStarts(codec, text).contains(s.length()), where + ": not a word start of " + codec);
                    }
                }
            }
            // Each model scores a segment on its own; that must equal its tokens in the whole text.
            List<Integer> cuts = new ArrayList<>(aligner.commonBoundaries(text));
            for (TextCodec codec : codecs) {
                List<Integer> joined = new ArrayList<>();
                int from = 0;
                for (int cut : cuts) {
                    joined.addAll(codec.encodeContinuation(text.substring(from, cut)).ids());
                    from = cut;
                }
                joined.addAll(codec.encodeContinuation(text.substring(from)).ids());
                assertEquals(codec.encodeContinuation(text).ids(), joined, codec + " [" + text + "] cut at " + cuts);
            }
        }
        assertTrue(accepted > 200, "the random texts exercise accepted segments: " + accepted);
    }
}
