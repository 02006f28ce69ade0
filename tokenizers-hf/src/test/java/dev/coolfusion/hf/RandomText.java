package dev.coolfusion.hf;

import java.util.List;
import java.util.Random;

/** Seeded random strings that mix scripts, digits, punctuation, emoji and whitespace. */
final class RandomText {
    private static final List<String> PIECES = List.of(
            "the", "cat", "Multi", "tasking", "LLMs", "don't", "it's", "naïve", "café", "Straße",
            "你好", "世界", "日本語", "한국어", "привет", "мир", "مرحبا", "שלום", "γειά", "नमस्ते",
            "0", "7", "42", "123", "2024", "3.14", "1,000", "$5", "50%",
            ".", ",", "!", "?", "...", "-", "--", "(", ")", "\"", "'", ":", ";", "/", "#", "@", "*", "+", "=",
            "😀", "👍🏽", "🇫🇷", "❤️", "∑", "→", "½",
            " ", " ", " ", " ", "  ", "\n", "\n\n", "\t", " \n", "\r\n");

    private RandomText() {}

    static String next(Random random) {
        int n = 1 + random.nextInt(12);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(PIECES.get(random.nextInt(PIECES.size())));
        }
        return sb.toString();
    }
}
