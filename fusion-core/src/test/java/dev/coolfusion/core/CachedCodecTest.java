package dev.coolfusion.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class CachedCodecTest {

    /** Counts the calls that reach the tokenizer. */
    private static final class Counting implements TextCodec {
        final CharCodec inner;
        final AtomicInteger encodes = new AtomicInteger();
        final AtomicInteger decodes = new AtomicInteger();
        final List<String> encoded = new ArrayList<>();

        Counting(CharCodec.Words words) {
            inner = new CharCodec(words);
        }

        @Override
        public Encoded encode(String text) {
            encodes.incrementAndGet();
            synchronized (encoded) {
                encoded.add(text);
            }
            return inner.encode(text);
        }

        @Override
        public String decode(List<Integer> ids) {
            decodes.incrementAndGet();
            return inner.decode(ids);
        }

        @Override
        public java.util.Set<Integer> endOfSequenceIds() {
            return inner.endOfSequenceIds();
        }

        @Override
        public boolean isSpecial(int id) {
            return inner.isSpecial(id);
        }
    }

    @Test
    void repeatedContinuationCallsReachTheTokenizerOnceWithEqualAnswers() {
        Counting counting = new Counting(CharCodec.Words.SPACES);
        CachedCodec cached = new CachedCodec(counting);
        Encoded first = cached.encodeContinuation("the cat");
        assertEquals(counting.inner.encode("the cat"), first);
        assertEquals(first, cached.encodeContinuation("the cat"));
        assertEquals(1, counting.encodes.get());
        List<Integer> ids = new ArrayList<>(List.of(CharCodec.BOS, 'a' + 3, 'b' + 3));
        assertEquals("ab", cached.decodeContinuation(ids));
        ids.add('c' + 3); // the caller's list changes: the memo keeps its own copy
        assertEquals("abc", cached.decodeContinuation(ids));
        assertEquals("ab", cached.decodeContinuation(List.of(CharCodec.BOS, 'a' + 3, 'b' + 3)));
        assertEquals(2, counting.decodes.get());
    }

    @Test
    void aFusionAsksEachTokenizerForEachTextAtMostOnce() {
        // T1 of both sources and M3 share one memo per tokenizer and fusion.
        Counting catWords = new Counting(CharCodec.Words.PRE_TOKENIZER);
        Counting dogWords = new Counting(CharCodec.Words.SPACES);
        CoolFusion fusion = CoolFusion.builder().addSource(new ScriptedModel("cat", catWords, "the cat sat on the mat.", 0.9))
                .addSource(new ScriptedModel("dog", dogWords, "the dog sat on the mat.", 0.6)).executor(Runnable::run)
                .build();
        Generation g = fusion.generateFromTokens(List.of(List.of(CharCodec.BOS), List.of(CharCodec.BOS)),
                FusionOptions.defaults(), StepListener.NONE);
        assertEquals("the cat sat on the mat.", g.text());
        for (Counting codec : List.of(catWords, dogWords)) {
            assertEquals(codec.encoded.stream().distinct().count(), codec.encoded.size(), "an encode repeated: "
                    + codec.encoded);
        }
        // a second generation of the same fusion finds every text in the memo, and generates the same
        int encodes = catWords.encodes.get() + dogWords.encodes.get();
        int decodes = catWords.decodes.get() + dogWords.decodes.get();
        Generation again = fusion.generateFromTokens(List.of(List.of(CharCodec.BOS), List.of(CharCodec.BOS)),
                FusionOptions.defaults(), StepListener.NONE);
        assertEquals(g.text(), again.text());
        assertEquals(encodes, catWords.encodes.get() + dogWords.encodes.get());
        assertEquals(decodes, catWords.decodes.get() + dogWords.decodes.get());
        // another fusion over the same sources has a memo of its own
        CoolFusion other = CoolFusion.builder().sources(fusion.sources()).executor(Runnable::run).build();
        other.generateFromTokens(List.of(List.of(CharCodec.BOS), List.of(CharCodec.BOS)), FusionOptions.defaults(),
                StepListener.NONE);
        assertEquals(2 * encodes, catWords.encodes.get() + dogWords.encodes.get());
    }
}
