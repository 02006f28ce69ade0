package dev.coolfusion.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Python {@code str} methods with Python's semantics, for templates that call them as methods. */
final class PyStrings {
    static final Set<String> METHODS = Set.of("strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit",
            "upper", "lower", "title", "capitalize", "replace", "find", "rfind", "count", "join", "splitlines",
            "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "removeprefix", "removesuffix");

    private PyStrings() {}

    /** Calls the Python method {@code name} on {@code s}; throws IllegalArgumentException for bad arguments. */
    static Object call(String s, String name, Object[] args) {
        return switch (name) {
            case "strip" -> strip(s, chars(name, args), true, true);
            case "lstrip" -> strip(s, chars(name, args), true, false);
            case "rstrip" -> strip(s, chars(name, args), false, true);
            case "startswith" -> affix(s, name, args, true);
            case "endswith" -> affix(s, name, args, false);
            case "split" -> split(s, optString(args, 0), optInt(args, 1, -1));
            case "rsplit" -> rsplit(s, optString(args, 0), optInt(args, 1, -1));
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(Locale.ROOT)
                            + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(Locale.ROOT);
            case "replace" -> replace(s, string(name, args, 0), string(name, args, 1), optInt(args, 2, -1));
            case "find" -> (long) s.indexOf(string(name, args, 0));
            case "rfind" -> (long) s.lastIndexOf(string(name, args, 0));
            case "count" -> count(s, string(name, args, 0));
            case "join" -> join(s, args);
            case "splitlines" -> splitlines(s);
            case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(c -> isSpace((char) c));
            case "isupper" -> s.codePoints().anyMatch(Character::isUpperCase) && s.codePoints().noneMatch(Character::isLowerCase);
            case "islower" -> s.codePoints().anyMatch(Character::isLowerCase) && s.codePoints().noneMatch(Character::isUpperCase);
            case "removeprefix" -> s.startsWith(string(name, args, 0)) ? s.substring(string(name, args, 0).length()) : s;
            case "removesuffix" -> !string(name, args, 0).isEmpty() && s.endsWith(string(name, args, 0))
                    ? s.substring(0, s.length() - string(name, args, 0).length()) : s;
            default -> throw new IllegalArgumentException("str has no method " + name);
        };
    }

    /** Python's {@code str.isspace} for one char. */
    static boolean isSpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.charAt(start), chars)) {
            start++;
        }
        while (right && end > start && stripped(s.charAt(end - 1), chars)) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    private static String chars(String name, Object[] args) {
        if (args.length > 1) {
            throw new IllegalArgumentException(name + "() takes at most 1 argument");
        }
        return optString(args, 0);
    }

    private static boolean affix(String s, String name, Object[] args, boolean prefix) {
        if (args.length < 1) {
            throw new IllegalArgumentException(name + "() takes at least 1 argument");
        }
        int start = (int) Math.max(0, Math.min(s.length(), index(optInt(args, 1, 0), s.length())));
        int end = args.length > 2 && args[2] != null ? (int) Math.max(start, Math.min(s.length(), index(optInt(args, 2, 0), s.length()))) : s.length();
        String part = s.substring(start, Math.max(start, end));
        List<String> options = new ArrayList<>();
        if (args[0] instanceof Iterable<?> it) {
            it.forEach(o -> options.add(String.valueOf(o)));
        } else if (args[0] instanceof Object[] arr) {
            for (Object o : arr) {
                options.add(String.valueOf(o));
            }
        } else {
            options.add(string(name, args, 0));
        }
        for (String o : options) {
            if (prefix ? part.startsWith(o) : part.endsWith(o)) {
                return true;
            }
        }
        return false;
    }

    private static long index(long i, int length) {
        return i < 0 ? length + i : i;
    }

    static List<String> split(String s, String sep, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    int end = n;
                    while (end > i && isSpace(s.charAt(end - 1))) {
                        end--;
                    }
                    out.add(s.substring(i, end));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    static List<String> rsplit(String s, String sep, int maxSplit) {
        if (maxSplit < 0 || sep == null) {
            if (sep == null && maxSplit >= 0) {
                // Whitespace rsplit with a limit: split from the right.
                List<String> out = new ArrayList<>();
                int j = s.length();
                while (true) {
                    while (j > 0 && isSpace(s.charAt(j - 1))) {
                        j--;
                    }
                    if (j <= 0) {
                        break;
                    }
                    if (out.size() == maxSplit) {
                        int start = 0;
                        while (start < j && isSpace(s.charAt(start))) {
                            start++;
                        }
                        out.add(0, s.substring(start, j));
                        break;
                    }
                    int i = j;
                    while (i > 0 && !isSpace(s.charAt(i - 1))) {
                        i--;
                    }
                    out.add(0, s.substring(i, j));
                    j = i;
                }
                return out;
            }
            return split(s, sep, maxSplit);
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        List<String> out = new ArrayList<>();
        int end = s.length();
        while (out.size() < maxSplit) {
            int at = s.lastIndexOf(sep, end - sep.length());
            if (at < 0) {
                break;
            }
            out.add(0, s.substring(at + sep.length(), end));
            end = at;
        }
        out.add(0, s.substring(0, end));
        return out;
    }

    /** Python's {@code str.title}: a letter after a non-letter is upper-cased, every other letter lower-cased. */
    static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
            if (cased) {
                out.appendCodePoint(previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
            } else {
                out.appendCodePoint(cp);
            }
            previousCased = cased;
            i += Character.charCount(cp);
        }
        return out.toString();
    }

    private static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            if (old.isEmpty()) {
                StringBuilder out = new StringBuilder(replacement);
                for (char c : s.toCharArray()) {
                    out.append(c).append(replacement);
                }
                return out.toString();
            }
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (int n = 0; n < count; n++) {
            int at = s.indexOf(old, from);
            if (at < 0 || old.isEmpty()) {
                break;
            }
            out.append(s, from, at).append(replacement);
            from = at + old.length();
        }
        return out.append(s.substring(from)).toString();
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1L;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String sep, Object[] args) {
        if (args.length != 1 || args[0] == null) {
            throw new IllegalArgumentException("join() takes exactly one iterable argument");
        }
        List<String> parts = new ArrayList<>();
        if (args[0] instanceof Iterable<?> it) {
            it.forEach(o -> parts.add(String.valueOf(o)));
        } else if (args[0] instanceof Object[] arr) {
            for (Object o : arr) {
                parts.add(String.valueOf(o));
            }
        } else if (args[0] instanceof String str) {
            str.codePoints().forEach(cp -> parts.add(new String(Character.toChars(cp))));
        } else {
            throw new IllegalArgumentException("join() needs an iterable");
        }
        return String.join(sep, parts);
    }

    private static List<String> splitlines(String s) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\r' || c == '\u000b' || c == '\u000c' || c == '\u001c' || c == '\u001d'
                    || c == '\u001e' || c == '\u0085' || c == '\u2028' || c == '\u2029') {
                out.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out;
    }

    private static String string(String name, Object[] args, int i) {
        if (args.length <= i || args[i] == null) {
            throw new IllegalArgumentException(name + "() is missing argument " + (i + 1));
        }
        return String.valueOf(args[i]);
    }

    private static String optString(Object[] args, int i) {
        return args.length > i && args[i] != null ? String.valueOf(args[i]) : null;
    }

    private static int optInt(Object[] args, int i, int def) {
        if (args.length <= i || args[i] == null) {
            return def;
        }
        if (args[i] instanceof Number n) {
            return n.intValue();
        }
        return Integer.parseInt(String.valueOf(args[i]).trim());
    }
}
