package dev.coolfusion.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.Span;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The codec asks the native library for only part of an encoding and remembers token strings (issue 16): its
 * encodings must equal what DJL's full {@link Encoding} gives, on real tokenizers (shared fixtures and the bundled demo
 * models), for byte-split characters, whitespace runs, the SentencePiece marker typed as text, and random text; a
 * prompt's ids must end with DJL's (with special tokens). Each text is encoded twice so that the second answer comes
 * from the remembered token strings.
 */
class HfTextCodecNativeCallsTest {
    private static final List<String> EDGE_CASES = List.of(
            "a", " ", "  ", "   ", "\n", "\n\n\n", "\n\n\n \n", " \n", "\t\t x", "a  b", "a   b  ", "x\u00A0y",
            "\u2581", "\u2581a", " \u2581\u2581b", "a\u2581\u2581 b", "\u2581 \u2581", "😀", "😀😀 👍🏽", "🇫🇷🇫🇷",
            "日本語", " 日本語 text", "naïve café", "Straße\n\nStraße", "48 / 2 = 24", " 1234567", "3.14159",
            "don't it's", "<s>", "</s> x", "<|endoftext|>", "$5,000.00!", "\r\n\r\n", "ab\u0301c", "\uD83D\uDE00x");

    static Stream<String> tokenizers() {
        return Stream.of("fixture:llama3", "fixture:llama2", "fixture:qwen3", "demo:a", "demo:b", "demo:c");
    }

    private static Path folder(String name) {
        String[] kind = name.split(":");
        if (kind[0].equals("fixture")) {
            return SharedFixtures.tokenizer(kind[1]);
        }
        Path dir = Path.of("..", "models", kind[1]);
        assumeTrue(Files.isRegularFile(dir.resolve("tokenizer.json")), "skipped: no demo model at " + dir);
        return dir;
    }

    @ParameterizedTest
    @MethodSource("tokenizers")
    void encodingsEqualDjlsFullEncoding(String name) throws IOException {
        Path dir = folder(name);
        List<String> texts = new ArrayList<>(EDGE_CASES);
        Random random = new Random(16);
        for (int i = 0; i < 300; i++) {
            texts.add(RandomText.next(random));
        }
        try (HfTextCodec codec = HfTextCodec.load(dir);
                HuggingFaceTokenizer djl = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"),
                        Map.of("truncation", "false", "padding", "false"))) {
            for (int round = 0; round < 2; round++) {
                for (String text : texts) {
                    assertEquals(expected(djl, text, ""), codec.encode(text), () -> name + " encode " + quoted(text));
                    List<Integer> prompt = codec.encodePrompt(text);
                    long[] withSpecial = djl.encode(text, true, false).getIds();
                    assertEquals(Arrays.stream(withSpecial).mapToObj(id -> (int) id).toList(),
                            prompt.subList(prompt.size() - withSpecial.length, prompt.size()),
                            () -> name + " encodePrompt " + quoted(text));
                    Encoded continuation = expectedContinuation(djl, text);
                    if (continuation != null) {
                        assertEquals(continuation, codec.encodeContinuation(text),
                                () -> name + " encodeContinuation " + quoted(text));
                    }
                }
            }
        }
    }

    /** The continuation behind the first anchor that stays whole, as the codec documents; null to leave it out. */
    private static Encoded expectedContinuation(HuggingFaceTokenizer djl, String text) {
        for (String anchor : List.of("\n", "a", "1")) {
            long[] prefix = djl.encode(anchor, false, false).getIds();
            Encoding encoding = djl.encode(anchor + text, false, false);
            long[] ids = encoding.getIds();
            if (ids.length > prefix.length && Arrays.equals(ids, 0, prefix.length, prefix, 0, prefix.length)
                    && encoding.getCharTokenSpans()[prefix.length] != null
                    && encoding.getCharTokenSpans()[prefix.length].getStart() >= anchor.length()) {
                return expected(djl, text, anchor);
            }
        }
        return null; // the codec falls back to encode, checked above
    }

    /**
     * {@code text} encoded behind {@code anchor} by DJL, the anchor's tokens cut off; a word starts where the word id
     * changes or a token begins with the space marker, at that token's first character.
     */
    private static Encoded expected(HuggingFaceTokenizer djl, String text, String anchor) {
        if (text.isEmpty()) {
            return new Encoded(text, List.of(), List.of(), List.of());
        }
        int skip = anchor.isEmpty() ? 0 : djl.encode(anchor, false, false).getIds().length;
        int skipCodePoints = anchor.codePointCount(0, anchor.length());
        Encoding encoding = djl.encode(anchor + text, false, false);
        long[] ids = encoding.getIds();
        String[] tokens = encoding.getTokens();
        long[] wordIds = encoding.getWordIds();
        CharSpan[] spans = encoding.getCharTokenSpans();
        List<Integer> idList = new ArrayList<>();
        List<String> tokenList = new ArrayList<>();
        List<Integer> starts = new ArrayList<>(List.of(0));
        int codePoints = text.codePointCount(0, text.length());
        for (int i = skip; i < ids.length; i++) {
            idList.add((int) ids[i]);
            tokenList.add(tokens[i]);
            boolean wordStart = i == skip || wordIds[i] != wordIds[i - 1] || tokens[i].startsWith("\u2581");
            if (wordStart && spans[i] != null) {
                int offset = text.offsetByCodePoints(0,
                        Math.min(Math.max(spans[i].getStart() - skipCodePoints, 0), codePoints));
                if (offset > starts.get(starts.size() - 1)) {
                    starts.add(offset);
                }
            }
        }
        List<Span> words = new ArrayList<>();
        for (int w = 0; w < starts.size(); w++) {
            words.add(new Span(starts.get(w), w + 1 < starts.size() ? starts.get(w + 1) : text.length()));
        }
        return new Encoded(text, idList, tokenList, words);
    }

    private static String quoted(String text) {
        return "'" + text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + "'";
    }
}
