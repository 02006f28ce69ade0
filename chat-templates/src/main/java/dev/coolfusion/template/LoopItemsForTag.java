package dev.coolfusion.template;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.JinjavaInterpreter.InterpreterScopeClosable;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.parse.TagToken;
import com.hubspot.jinjava.util.ForLoop;
import com.hubspot.jinjava.util.ObjectIterator;
import com.hubspot.jinjava.util.ObjectTruthValue;
import org.apache.commons.lang3.tuple.Pair;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/**
 * Jinjava's {@code for} tag, remembering the items of each running loop so that {@link PythonMethodResolver} can
 * answer Jinja2's {@code loop.previtem} and {@code loop.nextitem}. The innermost running loop is the one
 * {@code loop} refers to.
 *
 * <p>It also takes Jinja2's loop filter, {@code {% for m in messages if m.role != 'system' %}} (GLM-4-0414's
 * template uses one): the items whose condition is false are skipped before the loop starts, so {@code loop.index},
 * {@code loop.length}, {@code loop.first}/{@code last} and {@code previtem}/{@code nextitem} count only the items
 * kept, as in Jinja2. Jinjava itself read {@code messages if cond} as an inline conditional and looped over every
 * item.
 */
final class LoopItemsForTag extends ForTag {
    private static final long serialVersionUID = 1L;
    private static final ThreadLocal<Deque<List<Object>>> RUNNING = ThreadLocal.withInitial(ArrayDeque::new);

    @Override
    public String interpretUnchecked(TagNode tagNode, JinjavaInterpreter interpreter) {
        Pair<List<String>, String> varsAndExpression = getLoopVarsAndExpression((TagToken) tagNode.getMaster());
        String expression = varsAndExpression.getRight();
        int at = filterKeyword(expression);
        if (at < 0) {
            return super.interpretUnchecked(tagNode, interpreter);
        }
        List<String> loopVars = varsAndExpression.getLeft();
        Object collection = interpreter.resolveELExpression(expression.substring(0, at).trim(), tagNode.getLineNumber());
        String condition = expression.substring(at + 2).trim();
        List<Object> kept = new ArrayList<>();
        ForLoop items = ObjectIterator.getLoop(collection);
        while (items.hasNext()) {
            Object item = items.next();
            try (InterpreterScopeClosable scope = interpreter.enterScope()) {
                bind(interpreter, loopVars, item);
                if (ObjectTruthValue.evaluate(interpreter.resolveELExpression(condition, tagNode.getLineNumber()))) {
                    kept.add(item);
                }
            }
        }
        return renderForCollection(tagNode, interpreter, loopVars, kept);
    }

    /** Binds the loop variables to one item, unpacking pairs ({@code for k, v in d.items() if ...}). */
    private static void bind(JinjavaInterpreter interpreter, List<String> loopVars, Object item) {
        if (loopVars.size() == 1) {
            interpreter.getContext().put(loopVars.get(0), item);
            return;
        }
        List<?> parts = item instanceof Map.Entry<?, ?> e ? java.util.Arrays.asList(e.getKey(), e.getValue())
                : item instanceof List<?> l ? l : List.of();
        for (int i = 0; i < loopVars.size(); i++) {
            interpreter.getContext().put(loopVars.get(i), i < parts.size() ? parts.get(i) : null);
        }
    }

    /**
     * Where the loop filter's {@code if} starts in a loop expression, or -1: the first {@code if} outside strings and
     * brackets (Jinja2 reads the iterable without inline conditionals, so that {@code if} is always the filter's).
     */
    static int filterKeyword(String expression) {
        char quote = 0;
        int depth = 0;
        for (int i = 0; i < expression.length(); i++) {
            char c = expression.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && expression.startsWith("if", i)
                    && (i == 0 || !isNamePart(expression.charAt(i - 1)))
                    && (i + 2 == expression.length() || !isNamePart(expression.charAt(i + 2)))) {
                return i;
            }
        }
        return -1;
    }

    private static boolean isNamePart(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    @Override
    public String renderForCollection(TagNode tagNode, JinjavaInterpreter interpreter, List<String> loopVars, Object collection) {
        if (!(collection instanceof Iterable<?> iterable) || collection instanceof Map<?, ?>) {
            return super.renderForCollection(tagNode, interpreter, loopVars, collection);
        }
        List<Object> items = new ArrayList<>();
        iterable.forEach(items::add);
        Deque<List<Object>> running = RUNNING.get();
        running.push(items);
        try {
            return super.renderForCollection(tagNode, interpreter, loopVars, collection instanceof List<?> ? collection : items);
        } finally {
            running.pop();
        }
    }

    /** The items of the innermost running loop, or {@code null}. */
    static List<Object> currentItems() {
        return RUNNING.get().peek();
    }
}
