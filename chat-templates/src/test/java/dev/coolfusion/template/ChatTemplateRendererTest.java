package dev.coolfusion.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.ChatTemplate;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Each Python-ism Hugging Face chat templates use, with the output Python's Jinja2 gives (trim_blocks and
 * lstrip_blocks on, keep_trailing_newline off, HF's tojson and raise_exception), derived by hand from Jinja2's
 * semantics.
 */
class ChatTemplateRendererTest {
    private static final Map<String, String> TOKENS = Map.of("bos_token", "<s>", "eos_token", "</s>");
    private static final List<TemplateMessage> CHAT = List.of(
            TemplateMessage.system("  Be brief.  "),
            TemplateMessage.user("Hi there"),
            TemplateMessage.assistant("Hello"),
            TemplateMessage.user("2+2?"));

    private static String render(String template) {
        return render(template, CHAT, true);
    }

    private static String render(String template, List<TemplateMessage> messages, boolean generationPrompt) {
        return ChatTemplateRenderer.of(ChatTemplate.of(template, TOKENS)).render(messages, generationPrompt);
    }

    @Test
    void stringMethodsFollowPython() {
        assertEquals("[Be brief.]", render("[{{ messages[0].content.strip() }}]"));
        assertEquals("[Be brief.  ]", render("[{{ messages[0].content.lstrip() }}]"));
        assertEquals("[  Be brief.]", render("[{{ messages[0].content.rstrip() }}]"));
        assertEquals("a", render("{{ 'xxaxx'.strip('x') }}"));
        assertEquals("think>\n", render("{{ '\\n<think>\\n'.lstrip('\\n<') }}"));
        assertEquals("True False True", render("{{ 'Hi there'.startswith('Hi') }} {{ 'Hi'.endswith('x') }} "
                + "{{ 'abc'.endswith(('x', 'c')) }}"));
        assertEquals("['a', '', 'b']|['a', 'b']|c", render("{{ 'a..b'.split('.') }}|{{ ' a \\n b '.split() }}|"
                + "{{ 'a.b.c'.split('.')[-1] }}"));
        assertEquals("HI THERE|hi there|Hello World|They'Re", render("{{ messages[1].content.upper() }}|"
                + "{{ messages[1].content.lower() }}|{{ 'hello world'.title() }}|{{ \"they're\".title() }}"));
        assertEquals("a-b-c", render("{{ 'a b c'.replace(' ', '-') }}"));
    }

    @Test
    void raiseExceptionStopsRenderingWithTheTemplatesMessage() {
        String template = "{% for m in messages %}{% if m.role == 'system' %}"
                + "{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}";
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> render(template));
        assertEquals("chat template raised an exception: System role not supported", e.getMessage());
        // not raised when the condition is false
        assertEquals("Hi there", render(template, List.of(TemplateMessage.user("Hi there")), true));
    }

    @Test
    void namespaceAttributesSurviveTheLoop() {
        String template = "{% set ns = namespace(count=0, last='') %}"
                + "{% for m in messages %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}"
                + "{% set ns.last = m.content %}{% endif %}{% endfor %}{{ ns.count }}:{{ ns.last }}";
        assertEquals("2:2+2?", render(template));
    }

    @Test
    void keywordArgumentsTakeWholeExpressions() {
        assertEquals("3|a,b", render("{% set ns = namespace(i=messages|length - 1, s='a,b') %}{{ ns.i }}|{{ ns.s }}"));
        assertEquals("ad|abc", render("{% macro f(x, y='d') %}{{ x }}{{ y }}{% endmacro %}{{ f('a') }}|{{ f('a', y='b' ~ 'c') }}"));
        assertEquals("True", render("{{ (1 == 1) }}"));
    }

    @Test
    void loopVariables() {
        assertEquals("0F|1|2|3L|", render("{% for m in messages %}{{ loop.index0 }}{% if loop.first %}F{% endif %}"
                + "{% if loop.last %}L{% endif %}|{% endfor %}"));
        assertEquals("1/4 2/4 3/4 4/4 ", render("{% for m in messages %}{{ loop.index }}/{{ loop.length }} {% endfor %}"));
        assertEquals("-:system>user|system:user>assistant|user:assistant>user|assistant:user>-|", render(
                "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}:{{ m.role }}>"
                + "{{ loop.nextitem['role'] if loop.nextitem is defined else '-' }}|{% endfor %}"));
        // a loop filter skips items before the loop starts: loop.* count only the items kept
        assertEquals("user:1/3 assistant:2/3 user:3/3 ", render("{% for m in messages if m.role != 'system' %}"
                + "{{ m.role }}:{{ loop.index }}/{{ loop.length }} {% endfor %}"));
        assertEquals("a1c3|13|b", render("{% for k, v in {'a': 1, 'b': 2, 'c': 3}.items() if v != 2 %}{{ k }}{{ v }}"
                + "{% endfor %}|{% for x in [1, 2, 3, 4] if x is odd %}{{ x }}{% endfor %}|"
                + "{% for x in ['if', 'b'] if x != 'if' %}{{ x }}{% endfor %}"));
        // nested loops: loop is the innermost one
        assertEquals("a1b2;b1a2;", render("{% for x in ['a', 'b'] %}{% for y in [x, 'ab'.replace(x, '')] %}{{ y }}"
                + "{{ loop.index }}{% endfor %};{% endfor %}"));
    }

    @Test
    void tojsonIsJsonDumpsWithEnsureAsciiOff() {
        assertEquals("{\"role\": \"user\", \"content\": \"Hi there\"}", render("{{ messages[1] | tojson }}"));
        assertEquals("{\"a\": [1, 2.5, true, null], \"é\": \"q\\\"\\n\"}",
                render("{{ {'a': [1, 2.5, true, none], 'é': 'q\"\\n'} | tojson }}"));
        assertEquals("{\n  \"b\": 1,\n  \"a\": []\n}", render("{{ {'b': 1, 'a': []} | tojson(indent=2) }}"));
        assertEquals("{\"a\": 1, \"b\": 2}|{\"b\":[1,2]}", render("{{ {'b': 2, 'a': 1} | tojson(sort_keys=true) }}|"
                + "{{ {'b': [1, 2]} | tojson(separators=(',', ':')) }}"));
    }

    @Test
    void specialTokensAndGenerationPrompt() {
        String template = "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}"
                + "{% if add_generation_prompt %}[gen]{% endif %}";
        List<TemplateMessage> one = List.of(TemplateMessage.user("a"));
        assertEquals("<s>a</s>[gen]", render(template, one, true));
        assertEquals("<s>a</s>", render(template, one, false));
    }

    @Test
    void slicingDefinedLengthAndTrim() {
        assertEquals("3:user,assistant,user", render("{{ messages[1:] | length }}:"
                + "{{ messages[1:] | map(attribute='role') | join(',') }}"));
        assertEquals("user,assistant,user,system", render("{% for m in messages[::-1] %}{{ m.role }}"
                + "{% if not loop.last %},{% endif %}{% endfor %}"));
        assertEquals("user|2", render("{{ messages[-1].role }}|{{ messages[-1]['content'][0] }}"));
        assertEquals("False True True False", render("{{ tools is defined }} {{ messages is defined }} "
                + "{{ bos_token is defined }} {{ messages[0].reasoning_content is defined }}"));
        assertEquals("[Be brief.]", render("[{{ messages[0]['content'] | trim }}]"));
        // a filter binds tighter than +
        assertEquals("<h>Be brief.<e>", render("{{ '<h>' + messages[0]['content'] | trim + '<e>' }}"));
    }

    @Test
    void whitespaceControlAsJinja2WithTrimAndLstripBlocks() {
        // trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before it
        assertEquals("a\nb\n", render("{% for x in ['a', 'b'] %}\n    {% if true %}\n{{ x }}\n    {% endif %}\n{% endfor %}\n"));
        // '-' strips all whitespace on its side, newlines included
        assertEquals("U:Hi thereA:HelloU:2+2?", render("{%- for m in messages %}\n    {%- if m.role == 'user' %}\n"
                + "        {{- 'U:' + m.content }}\n    {%- elif m.role == 'assistant' %}\n        {{- 'A:' + m.content }}\n"
                + "    {%- endif %}\n{%- endfor %}\n"));
        // only one trailing newline of the source is dropped; a variable tag keeps the newline after it
        assertEquals("x\ny\n", render("{{ 'x' }}\n{{ 'y' }}\n\n"));
        // comments: trim_blocks and lstrip_blocks apply, as do '-' markers
        assertEquals("a b\ncd", render("a {# c #}\nb\n  {# d #}\nc {#- e -#}  d"));
        // lstrip_blocks strips only from the start of a line; mid-line spaces before a tag stay
        assertEquals("a b|x\ny", render("a {% if true %}b{% endif %}|x\n  {% if true %}y{% endif %}"));
        // '+' turns lstrip_blocks / trim_blocks off for that tag
        assertEquals("  \nab", render("  {%+ if true +%}\na{% endif %}\nb"));
    }

    @Test
    void stringEscapesAndOperators() {
        assertEquals("a\nb\tc'd\"", render("{{ 'a\\nb\\tc\\'d\"' }}"));
        assertEquals("é|A|'|\\|\uD83D\uDE00", render("{{ '\\u00e9' }}|{{ '\\x41' }}|{{ '\\u0027' }}|{{ \"\\x5c\" }}|{{ '\\U0001F600' }}"));
        assertEquals("True True 3 3.5 8", render("{{ 'in' in 'think' }} {{ 'x' not in 'abc' }} {{ 7 // 2 }} "
                + "{{ 7 / 2 }} {{ 2 ** 3 }}"));
        assertEquals("a=1;b=2;|1d", render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}|"
                + "{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('z', 'd') }}"));
        assertEquals("b1a2", render("{% for k, v in {'b': 1, 'a': 2} | items %}{{ k }}{{ v }}{% endfor %}"));
        assertEquals("02", render("{% for i in range(3) %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}"));
        assertEquals("[a]", render("{% macro f(x) %}[{{ x }}]{% endmacro %}{{ f('a') }}"));
    }

    @Test
    void notBindsLooserThanTestsComparisonsAndFilters() {
        // Jinja2: not (x is defined), not (1 == 2), not ('a' in 'abc'), not (length > 5); and/or bind looser still
        assertEquals("False True True False True", render("{{ not messages is defined }} {{ not tools is defined }} "
                + "{{ not 1 == 2 }} {{ not 'a' in 'abc' }} {{ not messages|length > 5 }}"));
        assertEquals("True False True 1", render("{{ not tools is defined and true }} {{ not true or false }} "
                + "{{ not not true }} {{ 1 if not false else 2 }}"));
        // 'is not' and 'not in' stay binary operators
        assertEquals("True True", render("{{ tools is not defined }} {{ 'x' not in 'abc' }}"));
        // DeepSeek's opening: a defined add_generation_prompt is left as it is
        String template = "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}"
                + "{% endif %}{% if add_generation_prompt %}[gen]{% endif %}";
        assertEquals("[gen]", render(template, CHAT, true));
        assertEquals("", render(template, CHAT, false));
    }

    @Test
    void generationBlocksRenderTheirBody() {
        assertEquals("A:Hello|", render("{% for m in messages %}{% if m.role == 'assistant' %}A:{% generation %}"
                + "{{ m.content }}{% endgeneration %}|{% endif %}{% endfor %}"));
    }

    @Test
    void invalidTemplatesFailClearly() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> render("{% for %}x{% endfor %}"));
        assertTrue(e.getMessage().startsWith("chat template error"), e.getMessage());
        assertThrows(ChatTemplateException.class, () -> render("{% if %}x{% endif %}"));
    }

    @Test
    void plainFallback() {
        assertEquals("Be brief.\n\nUser: Hi\nAssistant: Hello\nUser: 2+2?\nAssistant:",
                ChatTemplateRenderer.of(PlainChatFormat.TEMPLATE).render(List.of(TemplateMessage.system("Be brief."),
                        TemplateMessage.user("Hi"), TemplateMessage.assistant("Hello"), TemplateMessage.user("2+2?")), true));
    }

    @Test
    void strftimeFormatsLikePython() {
        java.time.ZonedDateTime t = java.time.ZonedDateTime.of(2024, 7, 5, 14, 3, 9, 0, java.time.ZoneOffset.UTC);
        assertEquals("05 Jul 2024 | July 5? 02:03:09 PM %", ChatTemplateRenderer.strftime(t, "%d %b %Y | %B 5? %I:%M:%S %p %%"));
    }
}
