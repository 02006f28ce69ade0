package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateCommandTest {
    @TempDir
    Path tmp;

    static Cli.Result run(String... args) {
        return Cli.run(args);
    }

    private static Path config(String family) {
        String shared = System.getProperty("coolfusion.shared.dir", "../../shared");
        Path file = Path.of(shared, "fixtures", "tokenizers", family, "tokenizer_config.json");
        assumeTrue(Files.isRegularFile(file), "skipped: shared tokenizer fixture not found at " + file.toAbsolutePath());
        return file;
    }

    private Path messages(String json) throws Exception {
        Path file = Files.createTempFile(tmp, "messages", ".json");
        Files.writeString(file, json);
        return file;
    }

    @Test
    void printsExactlyTheRenderedLlama3Prompt() throws Exception {
        Path msgs = messages("[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Héllo \"}]");
        Cli.Result r = run("chat-template", "--tokenizer-config", config("llama3").toString(), "--messages", msgs.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHéllo<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", r.out());
    }

    @Test
    void qwen3WithAndWithoutGenerationPrompt() throws Exception {
        Path msgs = messages("[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"},"
                + " {\"role\": \"user\", \"content\": \"Bye\"}]");
        String base = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n";
        Cli.Result with = run("chat-template", "--tokenizer-config", config("qwen3").toString(), "--messages", msgs.toString());
        assertEquals(base + "<|im_start|>assistant\n", with.out());
        Cli.Result without = run("chat-template", "--tokenizer-config", config("qwen3").toString(), "--messages", msgs.toString(),
                "--no-generation-prompt");
        assertEquals(base, without.out());
    }

    @Test
    void ownTemplateWithPythonisms() throws Exception {
        Path config = tmp.resolve("tokenizer_config.json");
        Files.writeString(config, "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"chat_template\": "
                + "\"{{ bos_token }}{% set ns = namespace(sys='') %}{% for m in messages %}{% if m.role == 'system' %}"
                + "{% set ns.sys = m.content.strip() %}{% elif m.content.startswith('!') %}{{ raise_exception('no commands') }}"
                + "{% else %}{{ loop.index0 }}:{{ m.role.upper() }}:{{ m.content | trim }}{{ eos_token if not loop.last }}"
                + "{% endif %}{% endfor %}[{{ ns.sys }}]{% if add_generation_prompt %}\\n>{% endif %}\\n\"}");
        Path msgs = messages("[{\"role\": \"system\", \"content\": \" S \"}, {\"role\": \"user\", \"content\": \" a \"},"
                + " {\"role\": \"assistant\", \"content\": \"b\"}]");
        Cli.Result r = run("chat-template", "--tokenizer-config", config.toString(), "--messages", msgs.toString());
        assertEquals(0, r.exitCode(), r.err());
        // trim_blocks drops the newline after "{% if ... %}" and after "{% endif %}"
        assertEquals("<s>1:USER:a</s>2:ASSISTANT:b[S]>", r.out());

        Cli.Result raised = run("chat-template", "--tokenizer-config", config.toString(), "--messages",
                messages("[{\"role\": \"user\", \"content\": \"!rm\"}]").toString());
        assertEquals(1, raised.exitCode());
        assertEquals("error: chat template raised an exception: no commands\n", raised.err());
        assertEquals("", raised.out());
    }

    @Test
    void badInputGivesOneErrorLineAndExitCode1() throws Exception {
        Path good = messages("[{\"role\": \"user\", \"content\": \"Hi\"}]");
        Cli.Result missing = run("chat-template", "--tokenizer-config", tmp.resolve("nope.json").toString(), "--messages", good.toString());
        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().startsWith("error: cannot read tokenizer config"), missing.err());
        assertEquals(1, missing.err().lines().count(), missing.err());

        Cli.Result badJson = run("chat-template", "--tokenizer-config", config("llama3").toString(), "--messages",
                messages("[{\"role\": \"user\", ").toString());
        assertEquals(1, badJson.exitCode());
        assertTrue(badJson.err().startsWith("error: cannot parse messages file"), badJson.err());
        assertEquals(1, badJson.err().lines().count(), badJson.err());

        Cli.Result notList = run("chat-template", "--tokenizer-config", config("llama3").toString(), "--messages",
                messages("{\"role\": \"user\"}").toString());
        assertEquals(1, notList.exitCode());
        assertTrue(notList.err().startsWith("error: messages file"), notList.err());

        Path noTemplate = tmp.resolve("plain_config.json");
        Files.writeString(noTemplate, "{\"eos_token\": \"</s>\"}");
        Cli.Result none = run("chat-template", "--tokenizer-config", noTemplate.toString(), "--messages", good.toString());
        assertEquals(1, none.exitCode());
        assertTrue(none.err().contains("has no chat_template"), none.err());
    }
}
