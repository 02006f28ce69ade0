package dev.coolfusion.template;

import static java.util.Objects.requireNonNull;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.coolfusion.spi.ChatTemplate;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * Renders a Hugging Face chat template as {@code tokenizer.apply_chat_template(messages, tokenize=False,
 * add_generation_prompt=...)} does: Jinja2 with {@code trim_blocks=True, lstrip_blocks=True}, the default
 * {@code keep_trailing_newline=False}, the globals {@code raise_exception} and {@code strftime_now}, HF's
 * {@code tojson} ({@code json.dumps} with {@code ensure_ascii=False}), and the variables {@code messages},
 * {@code add_generation_prompt} and the special tokens ({@code bos_token}, {@code eos_token}, ...).
 *
 * <p>The engine is HubSpot Jinjava, configured and extended to follow Jinja2 where chat templates need it: Python
 * string methods called as methods ({@code strip}, {@code startswith}, {@code split}, ...), dict methods
 * ({@code items}, {@code get}), string indexing, {@code x[::-1]}, Python string escapes, keyword arguments that are
 * whole expressions, booleans and floats printed as Python prints them, natural operator precedence with Jinja2's loose
 * {@code not} ({@code not x is defined} is {@code not (x is defined)}, see {@code PyParser}), loop filters
 * ({@code for m in messages if ...}), and Jinja2's {@code trim_blocks}/{@code lstrip_blocks}/comment whitespace
 * (see {@code TemplateSource}). Known differences, none
 * of them used by common chat templates: {@code {{ none }}} prints nothing (Python: {@code None});
 * {@code dict(...)}, string repetition {@code 'x' * 3}, {@code for ... else} and slices
 * with steps other than {@code -1} are not available.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class ChatTemplateRenderer {
    private static final Jinjava JINJAVA = createEngine();

    private final ChatTemplate template;
    private final String prepared;

    private ChatTemplateRenderer(ChatTemplate template) {
        this.template = template;
        this.prepared = TemplateSource.prepare(template.source());
    }

    public static ChatTemplateRenderer of(ChatTemplate template) {
        return new ChatTemplateRenderer(requireNonNull(template, "template is null"));
    }

    public ChatTemplate template() {
        return template;
    }

    /** Renders a conversation; {@code addGenerationPrompt} appends the header that starts the assistant's turn. */
    public String render(List<TemplateMessage> messages, boolean addGenerationPrompt) {
        requireNonNull(messages, "messages is null");
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (TemplateMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            maps.add(map);
        }
        return render(maps, addGenerationPrompt, Map.of());
    }

    /**
     * Renders messages given as maps (extra keys such as {@code reasoning_content} reach the template), with extra
     * template variables (e.g. {@code enable_thinking}) that override nothing else.
     */
    public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        requireNonNull(messages, "messages is null");
        requireNonNull(variables, "variables is null");
        Map<String, Object> bindings = new LinkedHashMap<>(template.specialTokens());
        bindings.putAll(variables);
        List<Map<String, Object>> copies = new ArrayList<>();
        for (Map<String, ?> m : messages) {
            copies.add(new LinkedHashMap<>(m));
        }
        bindings.put("messages", copies);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result;
        try {
            result = JINJAVA.renderForResult(prepared, bindings);
        } catch (RuntimeException e) {
            TemplateRaised raised = raised(e);
            if (raised != null) {
                throw new ChatTemplateException("chat template raised an exception: " + raised.getMessage(), e);
            }
            throw new ChatTemplateException("chat template error: " + e.getMessage(), e);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                TemplateRaised raised = raised(error.getException());
                if (raised != null) {
                    throw new ChatTemplateException("chat template raised an exception: " + raised.getMessage());
                }
                String message = error.getMessage();
                int at = message == null ? -1 : message.indexOf(TemplateRaised.MARKER);
                if (at >= 0) {
                    throw new ChatTemplateException("chat template raised an exception: "
                            + message.substring(at + TemplateRaised.MARKER.length()));
                }
                throw new ChatTemplateException("chat template error"
                        + (error.getLineno() > 0 ? " at line " + error.getLineno() : "") + ": " + message);
            }
        }
        return result.getOutput();
    }

    private static TemplateRaised raised(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof TemplateRaised r) {
                return r;
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return null;
    }

    /** What {@code raise_exception(message)} throws. */
    static final class TemplateRaised extends RuntimeException {
        static final String MARKER = "[raise_exception] ";
        private static final long serialVersionUID = 1L;

        TemplateRaised(String message) {
            super(MARKER + message);
        }

        @Override
        public String getMessage() {
            return super.getMessage().substring(MARKER.length());
        }

        @Override
        public String toString() {
            return super.getMessage();
        }
    }

    /** The template global {@code raise_exception(message)}. */
    public static Object raiseException(Object message) {
        throw new TemplateRaised(String.valueOf(message));
    }

    /** The template global {@code strftime_now(format)}: the current local time, formatted like Python's strftime. */
    public static String strftimeNow(String format) {
        return strftime(ZonedDateTime.now(), format);
    }

    static String strftime(ZonedDateTime t, String format) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                out.append(c);
                continue;
            }
            char f = format.charAt(++i);
            switch (f) {
                case 'Y' -> out.append(t.getYear());
                case 'y' -> out.append(String.format("%02d", t.getYear() % 100));
                case 'm' -> out.append(String.format("%02d", t.getMonthValue()));
                case 'd' -> out.append(String.format("%02d", t.getDayOfMonth()));
                case 'H' -> out.append(String.format("%02d", t.getHour()));
                case 'I' -> out.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'M' -> out.append(String.format("%02d", t.getMinute()));
                case 'S' -> out.append(String.format("%02d", t.getSecond()));
                case 'p' -> out.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> out.append(String.format("%03d", t.getDayOfYear()));
                case 'B' -> out.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b' -> out.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> out.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'a' -> out.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case '%' -> out.append('%');
                default -> out.append('%').append(f);
            }
        }
        return out.toString();
    }

    /** HF's {@code tojson}: {@code json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=sort_keys)}. */
    private static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            Object sort = kwargs.getOrDefault("sort_keys", args.length > 1 ? args[1] : Boolean.FALSE);
            Object separators = kwargs.getOrDefault("separators", args.length > 2 ? args[2] : null);
            Integer indentValue = indent == null ? null : Integer.valueOf(Integer.parseInt(String.valueOf(indent).trim()));
            String item = null;
            String key = null;
            if (separators instanceof List<?> pair && pair.size() == 2) {
                item = String.valueOf(pair.get(0));
                key = String.valueOf(pair.get(1));
            }
            return PyJson.dumps(var, indentValue, Boolean.TRUE.equals(sort) || "true".equalsIgnoreCase(String.valueOf(sort)),
                    item, key);
        }
    }

    /** Jinja2's {@code items} filter: a mapping's (key, value) pairs, in order. */
    private static final class Items implements Filter {
        @Override
        public String getName() {
            return "items";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            List<Object> out = new ArrayList<>();
            if (var instanceof Map<?, ?> map) {
                map.forEach((k, v) -> out.add(new ArrayList<>(java.util.Arrays.asList(k, v))));
            } else if (var != null) {
                throw new IllegalArgumentException("items filter needs a mapping, got " + var.getClass().getSimpleName());
            }
            return out;
        }
    }

    /** Jinjava whose expressions are parsed with Jinja2's operator precedence (see {@link PyParser}). */
    private static final class PyJinjava extends Jinjava {
        private final ExpressionFactory expressions = PyParser.expressionFactory();

        PyJinjava(JinjavaConfig config) {
            super(config);
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return expressions;
        }
    }

    private static Jinjava createEngine() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethodResolver());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        LegacyOverrides jinja2 = LegacyOverrides.newBuilder()
                .withEvaluateMapKeys(true)
                .withIterateOverMapKeys(true)
                .withUsePyishObjectMapper(true)
                .withUseSnakeCasePropertyNaming(true)
                .withUseNaturalOperatorPrecedence(true)
                .withParseWhitespaceControlStrictly(true)
                .withAllowAdjacentTextNodes(true)
                .withUseTrimmingForNotesAndExpressions(true)
                .withKeepNullableLoopValues(true)
                .withHandleBackslashInQuotesOnly(true)
                .build();
        JinjavaConfig config = JinjavaConfig.newBuilder()
                // trim_blocks and lstrip_blocks are applied by TemplateSource, the way Jinja2 applies them
                .withTrimBlocks(false)
                .withLstripBlocks(false)
                .withKeepTrailingNewline(true) // TemplateSource drops the source's trailing newline, as Jinja2 does
                .withLegacyOverrides(jinja2)
                .withElResolver(resolver)
                .withMaxRenderDepth(20)
                .withInterperterFactory(PyInterpreter.FACTORY) // sic: Jinjava's spelling
                .build();
        Jinjava jinjava = new PyJinjava(config);
        jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplateRenderer.class,
                "raiseException", Object.class));
        jinjava.registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplateRenderer.class,
                "strftimeNow", String.class));
        jinjava.registerFilter(new ToJson());
        jinjava.registerFilter(new Items());
        jinjava.getGlobalContext().registerTag(new GenerationTag());
        jinjava.getGlobalContext().registerTag(new LoopItemsForTag());
        return jinjava;
    }
}
