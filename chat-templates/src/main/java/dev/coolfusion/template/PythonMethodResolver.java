package dev.coolfusion.template;

import com.hubspot.jinjava.objects.SafeString;
import com.hubspot.jinjava.util.ForLoop;
import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Resolves Python method calls that chat templates make on strings ({@code message.content.strip()}) and dicts
 * ({@code d.items()}, {@code d.get(k)}), with Python's semantics. Placed before Jinjava's own resolvers, so Java
 * methods of the same name ({@code String.split} takes a regex) are never reached.
 */
final class PythonMethodResolver extends ELResolver {
    private static final Set<String> DICT_METHODS = Set.of("items", "keys", "values", "get");

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (method == null) {
            return null;
        }
        String name = method.toString();
        Object[] args = params == null ? new Object[0] : params;
        Object target = base instanceof SafeString safe ? safe.getValue() : base;
        if (target instanceof String s && PyStrings.METHODS.contains(name)) {
            context.setPropertyResolved(true);
            return PyStrings.call(s, name, args);
        }
        if (target instanceof Map<?, ?> map && DICT_METHODS.contains(name)) {
            context.setPropertyResolved(true);
            return switch (name) {
                case "items" -> {
                    List<Object> out = new ArrayList<>();
                    map.forEach((k, v) -> out.add(new ArrayList<>(java.util.Arrays.asList(k, v))));
                    yield out;
                }
                case "keys" -> new ArrayList<>(map.keySet());
                case "values" -> new ArrayList<>(map.values());
                default -> map.containsKey(args.length > 0 ? args[0] : null) ? map.get(args[0]) : (args.length > 1 ? args[1] : null);
            };
        }
        return null;
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        Object target = base instanceof SafeString safe ? safe.getValue() : base;
        if (target instanceof ForLoop loop && ("previtem".equals(property) || "nextitem".equals(property))) {
            List<Object> items = LoopItemsForTag.currentItems();
            if (items != null) {
                int at = loop.getIndex0() + ("previtem".equals(property) ? -1 : 1);
                context.setPropertyResolved(true);
                return at >= 0 && at < items.size() ? items.get(at) : null;
            }
        }
        Long index = property instanceof Number n && !(property instanceof Double) ? Long.valueOf(n.longValue())
                : property instanceof String p && p.matches("-?\\d{1,9}") ? Long.valueOf(p) : null;
        if (target instanceof String s && index != null) {
            // Python indexing of a string, negative indexes from the end.
            long i = index < 0 ? s.length() + index : index;
            if (i < 0 || i >= s.length()) {
                throw new IllegalArgumentException("string index out of range");
            }
            context.setPropertyResolved(true);
            return String.valueOf(s.charAt((int) i));
        }
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {}

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
