package dev.coolfusion.template;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.tree.TagNode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/**
 * Jinjava's {@code for} tag, remembering the items of each running loop so that {@link PythonMethodResolver} can
 * answer Jinja2's {@code loop.previtem} and {@code loop.nextitem}. The innermost running loop is the one
 * {@code loop} refers to.
 */
final class LoopItemsForTag extends ForTag {
    private static final long serialVersionUID = 1L;
    private static final ThreadLocal<Deque<List<Object>>> RUNNING = ThreadLocal.withInitial(ArrayDeque::new);

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
