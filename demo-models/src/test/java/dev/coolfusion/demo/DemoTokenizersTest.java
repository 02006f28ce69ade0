package dev.coolfusion.demo;

import dev.coolfusion.testkit.BundledModels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.Span;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DemoTokenizersTest {
    private static final String TEXT = " 3 * 12 = 36. 36 - 7 = 29. The answer is 29.";

    private static List<String> words(HfTextCodec codec, String text) {
        Encoded e = codec.encodeContinuation(text);
        List<String> out = new ArrayList<>();
        for (Span w : e.words()) {
            out.add(text.substring(w.start(), w.end()));
        }
        return out;
    }

    @Test
    void threeFamiliesLoadRoundTripAndDisagreeOnWords() throws Exception {
        List<List<String>> all = new ArrayList<>();
        for (String m : List.of("a", "b", "c")) {
            try (HfTextCodec codec = HfTextCodec.load(BundledModels.dir().resolve(m))) {
                int vocab = DemoModels.vocabSize(BundledModels.dir().resolve(m));
                assertTrue(vocab >= 300 && vocab <= 1000, m + " vocab " + vocab);
                Problems gen = new Problems(77);
                for (int i = 0; i < 200; i++) {
                    // the whole-number family has no byte fallback: non-ASCII text becomes <unk> there
                    String text = gen.next(Problems.Family.values()[i % 3]).text()
                            + (m.equals("c") ? "\n\nQuestion: ok?" : "\n\nQuestion: Ünïcode ok?");
                    Encoded e = codec.encode(text);
                    assertEquals(text, codec.decode(e.ids()), m);
                    Encoded c = codec.encodeContinuation(" " + text);
                    assertEquals(" " + text, codec.decodeContinuation(c.ids()), m);
                }
                List<String> w = words(codec, TEXT);
                assertEquals(TEXT, String.join("", w), m);
                all.add(w);
            }
        }
        // byte-level BPE (Llama 3 rules): a space before a number is its own word, "." is its own word
        assertEquals(List.of(" ", "3", " *", " ", "12"), all.get(0).subList(0, 5));
        assertTrue(all.get(0).contains("."));
        // SentencePiece: words start at spaces only, so "36." is one word
        assertTrue(all.get(1).contains(" 36."), all.get(1).toString());
        assertEquals(List.of(" 3", " *", " 12"), all.get(1).subList(0, 3));
        // whole-number family: space, number and punctuation are separate words
        assertTrue(all.get(2).containsAll(List.of(" ", "36", ".", "=")), all.get(2).toString());
        assertNotEquals(all.get(0), all.get(2));
    }

    @Test
    void sentencePieceUsesByteFallbackAndSingleDigits() throws Exception {
        try (HfTextCodec codec = HfTextCodec.load(BundledModels.dir().resolve("b"))) {
            Encoded e = codec.encodeContinuation(" 1234\né");
            assertTrue(e.tokens().containsAll(List.of("1", "2", "3", "4", "<0x0A>", "<0xC3>", "<0xA9>")), e.tokens().toString());
        }
        try (HfTextCodec codec = HfTextCodec.load(BundledModels.dir().resolve("c"))) {
            Encoded e = codec.encodeContinuation(" 36 - 7 = 29.");
            assertTrue(e.tokens().contains("36") && e.tokens().contains("29"), e.tokens().toString());
        }
    }
}
