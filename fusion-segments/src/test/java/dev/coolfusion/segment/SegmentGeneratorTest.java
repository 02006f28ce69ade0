package dev.coolfusion.segment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.Alignment;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.Sampling;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SegmentGeneratorTest {
    private static final Sampling SAMPLING = new Sampling(0.7, 0.9, 42, 3, 0);

    private static SegmentRequest request(ScriptedTokens model, List<TokenStep> ahead, int room, List<TextCodec> codecs,
            Alignment alignment, int maxSegmentTokens) {
        return new SegmentRequest(model.start(), ahead, room, codecs, 0, SegmentChoice.SHORTEST, alignment,
                maxSegmentTokens, SAMPLING);
    }

    private static ProposedSegment propose(ScriptedTokens model, TextCodec other, int room, int maxSegmentTokens) {
        return SegmentGenerator.propose(model, request(model, List.of(), room, List.of(model.codec(), other),
                Alignment.COMMON, maxSegmentTokens));
    }

    private static List<Integer> withEos(String text) {
        List<Integer> ids = new ArrayList<>(TestCodec.ids(text));
        ids.add(TestCodec.EOS);
        return ids;
    }

    @Test
    void theSegmentEndsAtTheFirstBoundaryEveryTokenizerSharesAndKeepsTheLookAhead() {
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("the cat"));
        ProposedSegment s = propose(model, new TestCodec(TestCodec.SPACES), 100, 32);
        assertEquals("the", s.text());
        assertFalse(s.endOfSequence());
        assertFalse(s.contextFull());
        // "the" is only a word once the space after it is there: that space is the look-ahead
        assertEquals(TestCodec.ids("the "), s.tokens());
        assertEquals(3, s.segmentTokens());
        assertEquals(List.of(-0.1, -0.2, -0.3, -0.4), s.steps().stream().map(TokenStep::logProb).toList());
    }

    @Test
    void replayingTheLookAheadEqualsGeneratingItAndCallsTheModelOnlyForTheRest() {
        TestCodec own = new TestCodec(TestCodec.PRE_TOKENIZER);
        TestCodec other = new TestCodec(TestCodec.SPACES);
        ScriptedTokens fresh = new ScriptedTokens(own, withEos("sat on it"));
        ProposedSegment generated = SegmentGenerator.propose(fresh, request(fresh, List.of(), 100, List.of(own, other),
                Alignment.COMMON, 32));
        assertEquals("sat", generated.text());
        int n = generated.steps().size();
        for (int k = 0; k <= n; k++) {
            ScriptedTokens replaying = new ScriptedTokens(own, withEos("sat on it"));
            ProposedSegment replayed = SegmentGenerator.propose(replaying, request(replaying,
                    generated.steps().subList(0, k), 100, List.of(own, other), Alignment.COMMON, 32));
            assertEquals(generated, replayed, "with " + k + " tokens of look-ahead");
            assertEquals(n - k, replaying.nextTokenCalls, "only the tokens past the look-ahead are generated");
            // each generated token is drawn with the draw of its position, as if none were replayed
            assertEquals(IntStream.range(k, n).mapToObj(SAMPLING::decoding).toList(), replaying.decodings);
        }
    }

    @Test
    void proposeUsesTheModelsOwnNextTextWhenItHasOne() {
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("the cat"));
        ProposedSegment own = new ProposedSegment("the", false, List.of(), -1, false);
        model.ownT1 = own;
        assertSame(own, propose(model, new TestCodec(TestCodec.SPACES), 100, 32));
        assertEquals(0, model.nextTokenCalls, "the model ran T1 itself");
        model.ownT1 = null;
        assertEquals("the", propose(model, new TestCodec(TestCodec.SPACES), 100, 32).text());
        assertEquals(4, model.nextTokenCalls, "without its own T1 the caller generates token by token");
    }

    @Test
    void endOfSequenceBeforeABoundaryMakesTheTextSoFarTheSegment() {
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("ab"));
        ProposedSegment s = propose(model, new TestCodec(TestCodec.PRE_TOKENIZER), 100, 32);
        assertEquals("ab", s.text());
        assertTrue(s.endOfSequence());
        assertEquals(withEos("ab"), s.tokens());
        assertEquals(3, s.segmentTokens(), "the segment's tokens include end-of-sequence");
    }

    @Test
    void afterMaxSegmentTokensTheFallbackIsTheProposersOwnLastBoundaryElseAllText() {
        // the other tokenizer never splits, so there is no common boundary
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("ab cd ef"));
        ProposedSegment s = propose(model, TestCodec.oneWord(), 100, 4);
        assertEquals("ab", s.text(), "\"ab c\" ends its own word 'ab' at 2");
        assertEquals(4, s.steps().size());
        assertEquals(2, s.segmentTokens());

        ScriptedTokens noBoundary = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("abcdef"));
        ProposedSegment all = propose(noBoundary, TestCodec.oneWord(), 100, 4);
        assertEquals("abcd", all.text(), "no own boundary either: all decoded text");
        assertEquals(4, all.segmentTokens());
    }

    @Test
    void ownAlignmentCutsAtTheProposersOwnBoundariesOnly() {
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("ab cd"));
        ProposedSegment own = SegmentGenerator.propose(model, request(model, List.of(), 100,
                List.of(model.codec(), TestCodec.oneWord()), Alignment.OWN, 32));
        assertEquals("ab", own.text());
        assertEquals(3, own.steps().size(), "cut as soon as its own words allow");
        ScriptedTokens common = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("ab cd"));
        ProposedSegment commonly = SegmentGenerator.propose(common, request(common, List.of(), 100,
                List.of(common.codec(), TestCodec.oneWord()), Alignment.COMMON, 32));
        assertTrue(commonly.endOfSequence(), "with common alignment the other tokenizer never agrees: " + commonly);
    }

    @Test
    void aFullContextFallsBackAtOnceAndNeverGeneratesPastTheRoom() {
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("ab cd"));
        ProposedSegment s = propose(model, TestCodec.oneWord(), 3, 32);
        assertTrue(s.contextFull());
        assertEquals("ab", s.text(), "the proposer's own last boundary in \"ab \"");
        assertEquals(3, model.nextTokenCalls);

        ScriptedTokens full = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("ab cd"));
        ProposedSegment none = propose(full, TestCodec.oneWord(), 0, 32);
        assertTrue(none.contextFull());
        assertEquals("", none.text());
        assertEquals(0, full.nextTokenCalls);
    }

    @Test
    void aCharacterWhoseBytesAreNotAllThereIsNotTextYet() {
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("aé b"));
        ProposedSegment s = propose(model, new TestCodec(TestCodec.SPACES), 100, 32);
        assertEquals("aé", s.text());
        assertEquals(3, s.segmentTokens(), "a, then both halves of é");
        // at the context end a half character is left out of the fallback
        ScriptedTokens cut = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), withEos("aé b"));
        ProposedSegment atEnd = propose(cut, TestCodec.oneWord(), 2, 32);
        assertEquals("a", atEnd.text());
        assertTrue(atEnd.contextFull());
    }

    @Test
    void tokensThatNeverDecodeToTextAreAClearError() {
        ScriptedTokens model = new ScriptedTokens(new TestCodec(TestCodec.PRE_TOKENIZER), List.of(1, 1, 1, 1, 1, 1, 1, 1,
                1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1));
        FusionException e = assertThrows(FusionException.class, () -> propose(model, TestCodec.oneWord(), 100, 4));
        assertEquals("source 'scripted' generated 16 tokens that decode to no text; check its tokenizer and"
                + " end-of-sequence ids", e.getMessage());
    }
}
