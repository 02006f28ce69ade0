package dev.coolfusion.template;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;

/**
 * Hugging Face's {@code {% generation %}...{% endgeneration %}} block (its {@code AssistantTracker} extension), which
 * marks assistant text for {@code return_assistant_tokens_mask}; when rendering it just renders its body.
 */
final class GenerationTag implements Tag {
    private static final long serialVersionUID = 1L;

    @Override
    public String getName() {
        return "generation";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
        try (JinjavaInterpreter.InterpreterScopeClosable scope = interpreter.enterScope()) {
            StringBuilder out = new StringBuilder();
            for (Node child : tagNode.getChildren()) {
                out.append(child.render(interpreter));
            }
            return out.toString();
        }
    }
}
