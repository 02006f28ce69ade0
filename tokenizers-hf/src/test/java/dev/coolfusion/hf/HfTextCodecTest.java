package dev.coolfusion.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.Span;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfTextCodecTest {

    private static List<String> words(Encoded e) {
        return e.words().stream().map(s -> e.text().substring(s.start(), s.end())).toList();
    }

    @Test
    void llama3WordsComeFromThePreTokenizer() {
        Encoded e = RealTokenizers.get("llama3").encode("Multi-tasking is hard.");
        assertEquals(List.of("Multi", "-task", "ing", "Ġis", "Ġhard", "."), e.tokens());
        assertEquals(List.of("Multi", "-tasking", " is", " hard", "."), words(e));
    }

    @Test
    void llama2WordsStartAtTheSpaceMarker() {
        Encoded e = RealTokenizers.get("llama2").encode("Multi-tasking is hard.");
        assertEquals(List.of("▁Multi", "-", "task", "ing", "▁is", "▁hard", "."), e.tokens());
        assertEquals(List.of("Multi-tasking", " is", " hard."), words(e));
    }

    @Test
    void continuationDropsTheSentencePieceDummyPrefix() {
        HfTextCodec llama2 = RealTokenizers.get("llama2");
        assertEquals(List.of("▁", "▁not", "▁the"), llama2.encode(" not the").tokens(), "a document gets a dummy prefix");
        Encoded mid = llama2.encodeContinuation(" not the");
        assertEquals(List.of("▁not", "▁the"), mid.tokens());
        assertEquals(List.of(" not", " the"), words(mid));
        assertEquals(" not the", llama2.decodeContinuation(mid.ids()), "the leading space survives decoding");
        assertEquals(List.of("."), llama2.encodeContinuation(".").tokens());
        // Byte-level tokenizers have no dummy prefix: both flavours agree.
        HfTextCodec llama3 = RealTokenizers.get("llama3");
        assertEquals(llama3.encode(" not the").ids(), llama3.encodeContinuation(" not the").ids());
    }

    @Test
    void continuationTokensConcatenateToTheTokensOfTheWhole() {
        for (String family : List.of("llama3", "llama2", "qwen3")) {
            HfTextCodec codec = RealTokenizers.get(family);
            Encoded whole = codec.encodeContinuation(" not the best");
            List<Integer> joined = new java.util.ArrayList<>(codec.encodeContinuation(" not").ids());
            joined.addAll(codec.encodeContinuation(" the").ids());
            joined.addAll(codec.encodeContinuation(" best").ids());
            assertEquals(whole.ids(), joined, family);
        }
    }

    @Test
    void offsetsCountJavaCharsEvenForSurrogatePairs() {
        for (String family : List.of("llama3", "llama2", "qwen3")) {
            Encoded e = RealTokenizers.get(family).encodeContinuation("a😀b  c");
            assertEquals(new Span(5, 7), e.words().get(e.words().size() - 1), family + " " + e.words());
            assertEquals(" c", words(e).get(words(e).size() - 1));
        }
    }

    @Test
    void cjkByteTokensDecodeToReplacementCharUntilComplete() {
        HfTextCodec llama3 = RealTokenizers.get("llama3");
        Encoded e = llama3.encodeContinuation("世界");
        // llama3 has a token for the whole word here; split it into bytes through the byte-level alphabet.
        Encoded bytes = llama3.encodeContinuation("😀");
        assertTrue(bytes.ids().size() >= 2, "the emoji spans several byte tokens: " + bytes.tokens());
        String partial = llama3.decodeContinuation(bytes.ids().subList(0, 1));
        assertTrue(partial.contains("\uFFFD"), "a partial character decodes to U+FFFD: " + partial);
        assertEquals("😀", llama3.decodeContinuation(bytes.ids()));
        assertEquals("世界", llama3.decodeContinuation(e.ids()));
    }

    @Test
    void endOfSequenceAndSpecialTokensComeFromTheConfig() {
        HfTextCodec llama2 = RealTokenizers.get("llama2");
        assertEquals(java.util.Set.of(2), llama2.endOfSequenceIds());
        assertTrue(llama2.isSpecial(1) && llama2.isSpecial(2));
        assertEquals(1, llama2.encodePrompt("Hi").get(0), "the prompt starts with <s>");
        HfTextCodec llama3 = RealTokenizers.get("llama3");
        // This llama3 tokenizer.json has no template post-processor and its config no add_bos_token, so Hugging Face
        // adds no BOS either; chat templates write <|begin_of_text|> themselves.
        assertEquals(llama3.encode("Hi").ids(), llama3.encodePrompt("Hi"));
        assertEquals(java.util.OptionalInt.of(128000), llama3.beginOfSequenceId());
        assertTrue(llama3.isSpecial(128001));
        assertTrue(!llama3.isSpecial(13347));
    }

    @Test
    void unreadableOrInvalidTokenizerFilesGetClearErrors(@TempDir Path dir) throws IOException {
        FusionException missing = assertThrows(FusionException.class, () -> HfTextCodec.load(dir.resolve("nope")));
        assertTrue(missing.getMessage().contains("cannot read tokenizer file"), missing.getMessage());
        FusionException emptyDir = assertThrows(FusionException.class, () -> HfTextCodec.load(dir));
        assertTrue(emptyDir.getMessage().contains("tokenizer.json"), emptyDir.getMessage());
        Path garbage = Files.writeString(dir.resolve("tokenizer.json"), "{not json");
        FusionException invalid = assertThrows(FusionException.class, () -> HfTextCodec.load(garbage));
        assertTrue(invalid.getMessage().contains("cannot load tokenizer"), invalid.getMessage());
    }

    @Test
    void copiesShareTheNativeTokenizerUntilTheLastIsClosed() {
        HfTextCodec original = HfTextCodec.load(SharedFixtures.tokenizer("llama2"));
        HfTextCodec copy = original.withEndOfSequenceIds(java.util.Set.of(7));
        assertEquals(java.util.Set.of(7), copy.endOfSequenceIds());
        original.close();
        original.close();
        assertEquals(List.of("▁not"), copy.encodeContinuation(" not").tokens(), "the copy still works");
        copy.close();
    }

    @Test
    void beginOfSequenceComesFromTheTokenizerConfig() {
        java.nio.file.Path tiny = SharedFixtures.root().resolve("hf-tiny").resolve("llama");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(tiny), "skipped: no hf-tiny fixture");
        try (HfTextCodec codec = HfTextCodec.load(tiny)) {
            assertEquals(java.util.OptionalInt.of(1), codec.beginOfSequenceId());
            assertEquals(java.util.Set.of(2), codec.endOfSequenceIds());
            assertEquals(List.of(1, 112, 59), codec.encode("<s> t112 t59").ids(), "special tokens in text keep their ids");
        }
    }
}
