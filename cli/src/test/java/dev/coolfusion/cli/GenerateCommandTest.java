package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.BundledModels;
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
    void theFaultPolicyCanBeSetAndABadOneIsAClearError() {
        Path llama = ScoreCommandTest.tiny("llama");
        Path qwen2 = ScoreCommandTest.tiny("qwen2");
        Cli.Result ok = Cli.run("generate", "--model", llama.toString(), "--model", qwen2.toString(), "--prompt",
                "<s> t5 t9", "--max-new-tokens", "3", "--on-source-failure", "drop");
        assertEquals(0, ok.exitCode(), ok.err());
        assertFalse(ok.out().contains("dropped source"), "nothing failed: " + ok.out());
        Cli.Result bad = Cli.run("generate", "--model", llama.toString(), "--prompt", "<s> t5",
                "--on-source-failure", "skip");
        assertEquals(1, bad.exitCode());
        assertTrue(bad.err().contains("--on-source-failure: unknown source failure policy 'skip': use 'fail'"), bad.err());
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

    /** A few-shot prompt of {@code shots} solved problems and one open question, in the bundled models' format. */
    static String fewShotPrompt(int shots) {
        String solved = "Question: Mia has 17 apples. She buys 11 more. How many apples does she have now?\n"
                + "Answer: 17 + 11 = 28. The answer is 28.\n\n";
        return solved.repeat(shots) + "Question: Ravi packs 108 beads into jars of 12. How many jars does he fill?\nAnswer:";
    }

    @Test
    void aPromptThatNearlyFillsAContextEndsWithLengthAndPrintsTheText() {
        // 452, 497 and 508 tokens for A, B and C, and 96 new tokens: before, M3 failed with "candidate ... exceeds the
        // max context of 512 tokens" and nothing was printed.
        String config = BundledModels.dir().resolve("fusion.yaml").toString();
        Cli.Result r = Cli.run("generate", "--config", config, "--prompt", fewShotPrompt(11));
        assertEquals(0, r.exitCode(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertTrue(lines[lines.length - 1].startsWith("(length: a source's context is full, "), r.out());
        assertFalse(r.out().strip().startsWith("(length"), "the text so far is printed: " + r.out());

        // One more solved problem and the prompt does not fit B: an error, in one line.
        Cli.Result tooLong = Cli.run("generate", "--config", config, "--prompt", fewShotPrompt(12));
        assertEquals(1, tooLong.exitCode());
        assertTrue(tooLong.err().startsWith("error: the prompt has 540 tokens for source 'B', more than its max context"
                + " of 512 tokens"), tooLong.err());
        assertEquals(1, tooLong.err().strip().lines().count(), tooLong.err());
    }

    @Test
    void aBlankPromptOrTwoSourcesWithOneNameAreOneLineErrors() {
        String llama = ScoreCommandTest.tiny("llama").toString();
        // Before: a blank prompt ran and printed a blank line.
        Cli.Result blank = Cli.run("generate", "--model", llama, "--prompt", "   ");
        assertEquals(1, blank.exitCode());
        assertEquals("error: --prompt is blank: give the text to continue", blank.err().strip());
        // Before: IllegalStateException with a stack trace.
        Cli.Result twice = Cli.run("generate", "--model", llama, "--model", llama, "--prompt", "<s> t5");
        assertEquals(1, twice.exitCode());
        assertTrue(twice.err().startsWith("error: the config's sources cannot be fused: two sources are named 'llama'"),
                twice.err());
        assertEquals(1, twice.err().strip().lines().count(), "no stack trace: " + twice.err());
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
