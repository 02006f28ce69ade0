package dev.coolfusion.template;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prepares a Jinja2 template source for Jinjava so that it renders as Jinja2's lexer reads it with Hugging Face's
 * settings. Jinjava's own {@code lstrip_blocks} also strips indentation before a tag in the middle of a line, and it
 * strips whitespace around comments differently, so this class applies those rules itself and Jinjava runs with
 * them off:
 *
 * <ul>
 *   <li>newlines are normalized to {@code \n} and one trailing newline is dropped ({@code keep_trailing_newline=False});</li>
 *   <li>{@code lstrip_blocks}: spaces and tabs between the start of a line and a block tag or comment go (not before
 *       {@code {%+});</li>
 *   <li>{@code trim_blocks}: the first newline after a block tag or comment goes (not after {@code +%}});</li>
 *   <li>comments are removed, honouring {@code {#-} and {@code -#}};</li>
 *   <li>Python's reversing slice {@code x[::-1]}, which Jinjava cannot parse, becomes {@code x|reverse} when
 *       nothing follows it.</li>
 * </ul>
 * {@code {%-}, {@code -%}}, {@code {{-} and {@code -}}} are left to Jinjava.
 */
final class TemplateSource {
    /** What a comment becomes: an expression that prints nothing, so text on its two sides stays apart. */
    private static final String EMPTY = "{{ '' }}";
    private static final Pattern REVERSE_SLICE = Pattern.compile("\\[\\s*:\\s*:\\s*-\\s*1\\s*\\](?!\\s*[\\[.(])");
    private static final Pattern MACRO = Pattern.compile("\\{%[-+]?\\s*(macro|call)\\b");
    private static final Pattern END_RAW = Pattern.compile("\\{%[-+]?\\s*endraw\\s*[-+]?%}");

    private TemplateSource() {}

    static String prepare(String source) {
        return process(normalizeNewlines(source));
    }

    static String normalizeNewlines(String source) {
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    private static String process(String s) {
        StringBuilder out = new StringBuilder(s.length() + 16);
        int dataStart = 0;          // where the current text between tags begins in out
        boolean lineStarting = true; // whether that text begins a line
        int i = 0;
        int n = s.length();
        while (i < n) {
            if (s.startsWith("{{", i)) {
                int end = tagEnd(s, i + 2, "}}");
                out.append(rewriteCode(s.substring(i, end)));
                i = end;
                dataStart = out.length();
                lineStarting = false;
            } else if (s.startsWith("{%", i) || s.startsWith("{#", i)) {
                boolean comment = s.charAt(i + 1) == '#';
                char open = i + 2 < n ? s.charAt(i + 2) : 0;
                if (open == '-') {
                    if (comment) {
                        int k = out.length();
                        while (k > dataStart && Character.isWhitespace(out.charAt(k - 1))) {
                            k--;
                        }
                        out.setLength(k);
                    }
                } else if (open != '+') {
                    lstrip(out, dataStart, lineStarting);
                }
                int end = comment ? commentEnd(s, i) : tagEnd(s, i + 2, "%}");
                String tag = s.substring(i, end);
                char close = tag.length() >= 5 ? tag.charAt(tag.length() - 3) : 0;
                boolean keepSpaceAfter = close == '+';
                if (comment) {
                    out.append(EMPTY);
                } else {
                    if (open == '+') {
                        tag = "{%" + tag.substring(3);
                    }
                    if (keepSpaceAfter) {
                        tag = tag.substring(0, tag.length() - 3) + "%}";
                    }
                    out.append(rewriteCode(tag));
                }
                i = end;
                lineStarting = false;
                if (close == '-') {
                    if (comment) {
                        while (i < n && Character.isWhitespace(s.charAt(i))) {
                            i++;
                        }
                    }
                } else if (!keepSpaceAfter && i < n && s.charAt(i) == '\n') {
                    i++; // trim_blocks
                    lineStarting = true;
                }
                if (!comment && isRaw(tag)) {
                    Matcher m = END_RAW.matcher(s);
                    int endRaw = m.find(i) ? m.start() : n;
                    out.append(s, i, endRaw);
                    i = endRaw;
                    lineStarting = false;
                    int nl = out.lastIndexOf("\n");
                    dataStart = nl >= 0 ? nl + 1 : out.length();
                    lineStarting = nl >= 0;
                    continue;
                }
                dataStart = out.length();
            } else {
                out.append(s.charAt(i));
                i++;
            }
        }
        return out.toString();
    }

    /** lstrip_blocks: drops spaces and tabs between the start of the line and a block tag. */
    private static void lstrip(StringBuilder out, int dataStart, boolean lineStarting) {
        int lineStart = -1;
        for (int k = out.length() - 1; k >= dataStart; k--) {
            if (out.charAt(k) == '\n') {
                lineStart = k + 1;
                break;
            }
        }
        if (lineStart < 0) {
            if (!lineStarting) {
                return;
            }
            lineStart = dataStart;
        }
        for (int k = lineStart; k < out.length(); k++) {
            char c = out.charAt(k);
            if (!Character.isWhitespace(c) && !Character.isSpaceChar(c)) {
                return;
            }
        }
        out.setLength(lineStart);
    }

    private static int commentEnd(String s, int from) {
        int close = s.indexOf("#}", from + 2);
        if (close < 0) {
            throw new ChatTemplateException("chat template error: comment '{#' at offset " + from + " is not closed");
        }
        return close + 2;
    }

    /** Rewrites Python syntax that Jinjava lacks in the code of a tag, leaving string literals alone. */
    static String rewriteCode(String tag) {
        // Macro signatures are parsed by Jinjava's macro tag itself and must stay as they are.
        boolean macro = MACRO.matcher(tag).lookingAt();
        return reverseSlices(macro ? tag : parenthesizeKeywordArguments(tag));
    }

    /**
     * Wraps each keyword argument's value in parentheses: Jinjava binds {@code name=} tighter than arithmetic, so
     * {@code namespace(i=messages|length - 1)} would otherwise compute {@code (i=messages|length) - 1}.
     */
    static String parenthesizeKeywordArguments(String tag) {
        StringBuilder out = new StringBuilder(tag.length() + 8);
        java.util.ArrayDeque<int[]> stack = new java.util.ArrayDeque<>(); // {bracket char, wrapped value open}
        char quote = 0;
        for (int i = 0; i < tag.length(); i++) {
            char c = tag.charAt(i);
            if (quote != 0) {
                out.append(c);
                if (c == '\\' && i + 1 < tag.length()) {
                    out.append(tag.charAt(++i));
                } else if (c == quote) {
                    quote = 0;
                }
                continue;
            }
            switch (c) {
                case '\'', '"' -> {
                    quote = c;
                    out.append(c);
                }
                case '(', '[', '{' -> {
                    stack.push(new int[] {c, 0});
                    out.append(c);
                }
                case ')', ']', '}' -> {
                    if (!stack.isEmpty()) {
                        if (stack.peek()[1] == 1) {
                            out.append(')');
                        }
                        stack.pop();
                    }
                    out.append(c);
                }
                case ',' -> {
                    if (!stack.isEmpty() && stack.peek()[1] == 1) {
                        out.append(')');
                        stack.peek()[1] = 0;
                    }
                    out.append(c);
                }
                case '=' -> {
                    boolean single = (i + 1 >= tag.length() || tag.charAt(i + 1) != '=')
                            && (i == 0 || "=!<>".indexOf(tag.charAt(i - 1)) < 0);
                    out.append(c);
                    if (single && !stack.isEmpty() && stack.peek()[0] == '(' && stack.peek()[1] == 0
                            && followsKeyword(out, out.length() - 1)) {
                        out.append('(');
                        stack.peek()[1] = 1;
                    }
                }
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    /** Whether the text before {@code eq} ends with {@code ( name} or {@code , name}. */
    private static boolean followsKeyword(CharSequence s, int eq) {
        int k = eq - 1;
        while (k >= 0 && Character.isWhitespace(s.charAt(k))) {
            k--;
        }
        int end = k;
        while (k >= 0 && (Character.isLetterOrDigit(s.charAt(k)) || s.charAt(k) == '_')) {
            k--;
        }
        if (k == end) {
            return false;
        }
        while (k >= 0 && Character.isWhitespace(s.charAt(k))) {
            k--;
        }
        return k >= 0 && (s.charAt(k) == '(' || s.charAt(k) == ',');
    }

    private static String reverseSlices(String tag) {
        StringBuilder out = new StringBuilder(tag.length());
        StringBuilder code = new StringBuilder();
        char quote = 0;
        for (int i = 0; i < tag.length(); i++) {
            char c = tag.charAt(i);
            if (quote != 0) {
                int digits = c != '\\' || i + 1 >= tag.length() ? 0
                        : switch (tag.charAt(i + 1)) { case 'x' -> 2; case 'u' -> 4; case 'U' -> 8; default -> 0; };
                if (digits > 0 && i + 2 + digits <= tag.length()
                        && tag.substring(i + 2, i + 2 + digits).chars().allMatch(h -> Character.digit(h, 16) >= 0)) {
                    // Python's hex escapes (x + 2, u + 4, U + 8 hex digits), which Jinjava's lexer rejects
                    String ch = new String(Character.toChars(Integer.parseInt(tag.substring(i + 2, i + 2 + digits), 16)));
                    out.append(ch.equals("\\") || ch.charAt(0) == quote ? "\\" + ch : ch);
                    i += 1 + digits;
                    continue;
                }
                out.append(c);
                if (c == '\\' && i + 1 < tag.length()) {
                    out.append(tag.charAt(++i));
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                out.append(REVERSE_SLICE.matcher(code).replaceAll("|reverse"));
                code.setLength(0);
                out.append(c);
                quote = c;
            } else {
                code.append(c);
            }
        }
        out.append(REVERSE_SLICE.matcher(code).replaceAll("|reverse"));
        return out.toString();
    }

    private static boolean isRaw(String tag) {
        String inner = tag.substring(2, tag.length() - 2).replace("-", "").replace("+", "").trim();
        return inner.equals("raw");
    }

    /** The index just past {@code close}, skipping string literals inside the tag. */
    private static int tagEnd(String s, int from, String close) {
        char quote = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (s.startsWith(close, i)) {
                return i + close.length();
            }
        }
        return s.length();
    }
}
