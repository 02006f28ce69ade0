package dev.coolfusion.template;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import java.util.Properties;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner.ScanException;
import jinjava.de.odysseus.el.tree.impl.Scanner.Symbol;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;
import jinjava.javax.el.ExpressionFactory;

/**
 * Jinjava's expression parser with Jinja2's precedence for the boolean {@code not}.
 *
 * <p>In Jinja2, {@code not} binds more loosely than everything but {@code and} and {@code or}: its operand is a whole
 * comparison, with its tests ({@code is}), filters, membership ({@code in}) and arithmetic (Jinja2's parser:
 * {@code parse_and -> parse_not -> parse_compare}). Jinjava, like the JUEL parser it extends, parses {@code not} as a
 * unary operator as tight as {@code -x}, so {@code not x is defined} became {@code (not x) is defined}, which is
 * always true, and {@code not a == b} became {@code (not a) == b}. DeepSeek-V3's and DeepSeek-R1's templates open
 * with {@code {% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}}, so
 * Jinjava's reading switched the generation prompt off. This parser reads {@code not} at Jinja2's level, between
 * {@code and} and the comparisons.
 */
final class PyParser extends ExtendedParser {
    PyParser(Builder context, String input) {
        super(context, input);
    }

    /** {@code and} over {@code not}-expressions, as Jinja2's {@code parse_and}. */
    @Override
    protected AstNode and(boolean required) throws ScanException, ParseException {
        AstNode v = not(required);
        if (v == null) {
            return null;
        }
        while (true) {
            Symbol symbol = getToken().getSymbol();
            if (symbol == Symbol.AND) {
                consumeToken();
                v = createAstBinary(v, not(true), AstBinary.AND);
            } else if (symbol == Symbol.EXTENSION
                    && getExtensionHandler(getToken()).getExtensionPoint() == ExtensionPoint.AND) {
                v = getExtensionHandler(consumeToken()).createAstNode(v, not(true));
            } else {
                return v;
            }
        }
    }

    /** Jinja2's {@code parse_not}: {@code not} applies to a whole comparison (or to another {@code not}). */
    private AstNode not(boolean required) throws ScanException, ParseException {
        if (getToken().getSymbol() == Symbol.NOT) {
            consumeToken();
            return createAstUnary(not(true), AstUnary.NOT);
        }
        return eq(required);
    }

    /** Jinjava's expression syntax, parsed by {@link PyParser}. */
    static final class SyntaxBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        SyntaxBuilder(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new PyParser(this, expression);
        }
    }

    /** An expression factory like the one Jinjava builds for itself, whose trees come from {@link PyParser}. */
    static ExpressionFactory expressionFactory() {
        return new ExpressionFactoryImpl(new Properties(), new TruthyTypeConverter()) {
            @Override
            protected TreeBuilder createTreeBuilder(Properties properties, Builder.Feature... features) {
                return new SyntaxBuilder(features);
            }
        };
    }
}
