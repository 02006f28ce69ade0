package dev.coolfusion.template;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Python's {@code json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=sort_keys)}, which is what Hugging Face
 * registers as the {@code tojson} filter of chat templates: {@code ", "} and {@code ": "} separators without
 * indent, non-ASCII text kept as it is.
 */
final class PyJson {
    private PyJson() {}

    static String dumps(Object value, Integer indent, boolean sortKeys) {
        return dumps(value, indent, sortKeys, null, null);
    }

    /** With explicit {@code separators=(item, key)}; {@code null} ones take json.dumps' defaults. */
    static String dumps(Object value, Integer indent, boolean sortKeys, String itemSeparator, String keySeparator) {
        StringBuilder out = new StringBuilder();
        String item = itemSeparator != null ? itemSeparator : indent == null ? ", " : ",";
        String key = keySeparator != null ? keySeparator : ": ";
        write(out, value, indent, sortKeys, 0, item, key);
        return out.toString();
    }

    private static void write(StringBuilder out, Object v, Integer indent, boolean sortKeys, int depth, String item,
            String key) {
        if (v == null) {
            out.append("null");
        } else if (v instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (v instanceof CharSequence s) {
            string(out, s.toString());
        } else if (v instanceof Double || v instanceof Float) {
            out.append(PyRepr.floatRepr(((Number) v).doubleValue(), true));
        } else if (v instanceof BigDecimal d) {
            out.append(PyRepr.floatRepr(d.doubleValue(), true));
        } else if (v instanceof Number || v instanceof BigInteger) {
            out.append(v);
        } else if (v instanceof Map<?, ?> map) {
            Map<?, ?> entries = sortKeys ? new TreeMap<>(stringKeys(map)) : map;
            if (entries.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : entries.entrySet()) {
                out.append(first ? "" : item);
                newline(out, indent, depth + 1);
                string(out, String.valueOf(e.getKey()));
                out.append(key);
                write(out, e.getValue(), indent, sortKeys, depth + 1, item, key);
                first = false;
            }
            newline(out, indent, depth);
            out.append('}');
        } else if (v instanceof Iterable<?> || v instanceof Object[]) {
            List<Object> items = new ArrayList<>();
            if (v instanceof Iterable<?> it) {
                it.forEach(items::add);
            } else {
                items.addAll(List.of((Object[]) v));
            }
            if (items.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < items.size(); i++) {
                out.append(i == 0 ? "" : item);
                newline(out, indent, depth + 1);
                write(out, items.get(i), indent, sortKeys, depth + 1, item, key);
            }
            newline(out, indent, depth);
            out.append(']');
        } else {
            string(out, v.toString());
        }
    }

    private static Map<String, Object> stringKeys(Map<?, ?> map) {
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        map.forEach((k, val) -> out.put(String.valueOf(k), val));
        return out;
    }

    private static void newline(StringBuilder out, Integer indent, int depth) {
        if (indent != null) {
            out.append('\n').append(" ".repeat(Math.max(0, indent) * depth));
        }
    }

    static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
