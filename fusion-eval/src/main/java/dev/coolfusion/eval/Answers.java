package dev.coolfusion.eval;

import java.math.BigDecimal;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Extracts the final number of a generated solution and compares numbers. */
public final class Answers {
    private static final Pattern NUMBER = Pattern.compile("-?\\$?\\d[\\d,]*(?:\\.\\d+)?");
    private static final Pattern THE_ANSWER = Pattern.compile("(?i)the answer is\\s*:?\\s*(-?\\$?\\d[\\d,]*(?:\\.\\d+)?)");

    private Answers() {}

    /** The number after the first "The answer is", else the last number in the text, normalised; null if none. */
    public static String extract(String text) {
        Matcher m = THE_ANSWER.matcher(text);
        if (m.find()) {
            return normalize(m.group(1));
        }
        Matcher all = NUMBER.matcher(text);
        String last = null;
        while (all.find()) {
            last = all.group();
        }
        return last == null ? null : normalize(last);
    }

    /** A plain decimal without "$", commas, a trailing "." or trailing zeros; null if it is not a number. */
    public static String normalize(String number) {
        String s = number.strip().replace("$", "").replace(",", "");
        while (s.endsWith(".")) {
            s = s.substring(0, s.length() - 1);
        }
        try {
            BigDecimal d = new BigDecimal(s);
            d = d.stripTrailingZeros();
            return d.scale() < 0 ? d.setScale(0).toPlainString() : d.toPlainString();
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** Whether the text's extracted answer equals {@code gold} (normalised). */
    public static boolean correct(String text, String gold) {
        String got = extract(text);
        return got != null && got.equals(gold);
    }
}
