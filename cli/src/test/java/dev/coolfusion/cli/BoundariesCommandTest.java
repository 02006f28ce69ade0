package dev.coolfusion.cli;

import dev.coolfusion.testkit.BundledModels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BoundariesCommandTest {

    /** Runs the command line; arguments that start with an option run {@code boundaries}. */
    static Cli.Result run(String... args) {
        if (args.length > 0 && args[0].startsWith("--")) {
            String[] withCommand = new String[args.length + 1];
            withCommand[0] = "boundaries";
            System.arraycopy(args, 0, withCommand, 1, args.length);
            args = withCommand;
        }
        return Cli.run(args);
    }

    static Path tokenizers() {
        String shared = System.getProperty("coolfusion.shared.dir", "../../shared");
        Path dir = Path.of(shared, "fixtures", "tokenizers");
        assumeTrue(Files.isDirectory(dir), "skipped: shared tokenizer fixtures not found at " + dir.toAbsolutePath());
        return dir;
    }

    private static JsonNode json(String... args) throws Exception {
        Cli.Result r = run(args);
        assertEquals(0, r.exitCode(), r.err());
        return new ObjectMapper().readTree(r.out());
    }

    @Test
    void paperExampleMultiTaskingInBothOrders() throws Exception {
        Path t = tokenizers();
        for (List<String> order : List.of(List.of("llama3", "llama2"), List.of("llama2", "llama3"))) {
            List<String> args = new ArrayList<>();
            for (String family : order) {
                args.add("--tokenizer");
                args.add(t.resolve(family).resolve("tokenizer.json").toString());
            }
            args.addAll(List.of("--text", "Multi-tasking is hard.", "--json"));
            JsonNode doc = json(args.toArray(String[]::new));
            assertEquals("Multi-tasking", doc.get("segment").asText(), order.toString());
            assertEquals("[13,16]", doc.get("common_boundaries").toString());
            JsonNode first = doc.get("tokenizers").get(0);
            assertEquals(first.get("ids").size(), first.get("tokens").size());
            assertEquals(0, first.get("words").get(0).get(0).asInt());
        }
    }

    @Test
    void paperExampleNotTheAfterLlmsAre() throws Exception {
        Path t = tokenizers();
        JsonNode doc = json("--tokenizer", t.resolve("llama3").toString(), "--tokenizer", t.resolve("llama2").toString(),
                "--context", "LLMs are", "--text", " not the", "--json");
        assertEquals(" not", doc.get("segment").asText());
        assertEquals("[\"Ġnot\",\"Ġthe\"]", doc.get("tokenizers").get(0).get("tokens").toString());
        assertEquals("[\"▁not\",\"▁the\"]", doc.get("tokenizers").get(1).get("tokens").toString());
    }

    @Test
    void humanOutputShowsTokensWordsAndSegment() {
        Path t = tokenizers();
        Cli.Result r = run("--tokenizer", t.resolve("qwen3").toString(), "--text", "12345 x");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("segment:           \"1\""), r.out());
        assertTrue(r.out().contains("words:  \"1\"@0 \"2\"@1 \"3\"@2 \"4\"@3 \"5\"@4 \" x\"@5"), r.out());
        assertTrue(r.out().contains("tokens: 1(16) 2(17)"), r.out());
    }

    @Test
    void badInputGetsClearErrors() {
        Cli.Result none = run("boundaries", "--text", "x");
        assertEquals(2, none.exitCode());
        assertTrue(none.err().contains("Missing required option: '--tokenizer"), none.err());
        Cli.Result unreadable = run("boundaries", "--tokenizer", "/no/such/tokenizer.json", "--text", "x");
        assertEquals(1, unreadable.exitCode());
        assertTrue(unreadable.err().contains("cannot read tokenizer file /no/such/tokenizer.json"), unreadable.err());
        Path t = tokenizers();
        Cli.Result empty = run("boundaries", "--tokenizer", t.resolve("llama3").toString(), "--text", "");
        assertEquals(1, empty.exitCode());
        assertTrue(empty.err().contains("--text is empty"), empty.err());
        Cli.Result unknown = run("frobnicate");
        assertEquals(2, unknown.exitCode());
        assertTrue(unknown.err().contains("Unmatched argument"), unknown.err());
    }

    @Test
    void demoFusesTheBundledModelsAndPrintsTheTable() {
        Cli.Result r = run("demo", "--show", "1", "--sample", "2", "--no-color");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("fused: "), r.out());
        assertTrue(r.out().matches("(?s).*fused: .*\\[[ABC](\\+[ABC])*\\].*"), r.out());
        for (String method : new String[] {"single:A", "single:B", "single:C", "rerank", "cool2", "cool+rerank", "cool-align"}) {
            assertTrue(r.out().contains(method), method + " missing: " + r.out());
        }
        assertTrue(!r.out().contains("\u001b["), "no ANSI codes when not on a terminal");
    }
}
