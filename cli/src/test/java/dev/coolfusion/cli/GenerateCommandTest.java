package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerateCommandTest {

    @Test
    void fusesModelFoldersAndPrintsTheTrace() {
        Path llama = ScoreCommandTest.tiny("llama");
        Path qwen2 = ScoreCommandTest.tiny("qwen2");
        Cli.Result r = Cli.run("generate", "--model", llama.toString(), "--model",
                qwen2.toString(), "--prompt", "<s> t5 t9", "--max-new-tokens", "5", "--trace");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("step 0"), r.out());
        assertTrue(r.out().contains("by llama") && r.out().contains("by qwen2"), r.out());
        assertTrue(r.out().contains("metric avg-ppl"), r.out());
        assertTrue(r.out().contains("| llama=") && r.out().contains(" qwen2="), "each model's perplexity: " + r.out());
        assertTrue(r.out().contains("(length, ") && r.out().contains(" 5 tokens)"), r.out());
    }

    @Test
    void readsAFusionConfig(@TempDir Path dir) throws IOException {
        Path config = Files.writeString(dir.resolve("fusion.yaml"), """
                sources:
                  - provider: djl
                    options: {path: %s, name: a}
                  - provider: djl
                    options: {path: %s, name: b}
                metric: bits-per-byte
                options: {max-new-tokens: 3}
                """.formatted(ScoreCommandTest.tiny("mistral"), ScoreCommandTest.tiny("phi3")));
        Cli.Result r = Cli.run("generate", "--config", config.toString(), "--prompt", "<s> t7", "--trace");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains(" 3 tokens)"), r.out());
        assertTrue(r.out().contains("metric bits-per-byte"), "the config's metric: " + r.out());
        assertTrue(r.out().contains("| a=") && r.out().contains(" b="), "each model's bits per byte: " + r.out());
    }

    @Test
    void badInputGetsClearErrors(@TempDir Path dir) {
        Cli.Result missing = Cli.run("generate", "--config",
                dir.resolve("none.yaml").toString(), "--prompt", "x");
        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().contains("cannot read fusion config"), missing.err());
        Cli.Result metric = Cli.run("generate", "--model",
                ScoreCommandTest.tiny("llama").toString(), "--prompt", "<s>", "--metric", "bleu");
        assertEquals(1, metric.exitCode());
        assertTrue(metric.err().contains("unknown metric 'bleu'"), metric.err());
    }
}
