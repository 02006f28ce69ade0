package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.cli.Cli;
import dev.coolfusion.testkit.BundledModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The eval command in-process on the bundled models: a short smoke run and its error messages. */
class EvalCommandTest {
    static Cli.Result run(String... args) {
        return Cli.run(args);
    }

    @Test
    void smokeRunWritesJsonAndChart(@TempDir Path tmp) throws Exception {
        Path models = BundledModels.dir();
        Path json = tmp.resolve("results.json");
        Path png = tmp.resolve("results.png");
        Cli.Result r = run("eval", "--config", models.resolve("fusion.yaml").toString(), "--data",
                models.resolve("heldout.jsonl").toString(), "--limit", "3", "--no-progress", "--out", json.toString(),
                "--chart", png.toString());
        assertEquals(0, r.exitCode(), r.err() + r.out());
        assertTrue(r.out().contains("cool+rerank"), r.out());
        JsonNode root = new ObjectMapper().readTree(json.toFile());
        assertEquals(3, root.get("items").size());
        assertEquals("avg-ppl", root.get("metric").asText());
        assertEquals("avg-ppl", root.get("rerank-metric").asText());
        assertTrue(root.get("rerank-end").asText().startsWith("stop"), root.get("rerank-end").asText());
        Set<String> methods = new HashSet<>();
        for (JsonNode m : root.get("methods")) {
            methods.add(m.get("method").asText());
            assertEquals(3, m.get("total").asInt());
            assertTrue(m.get("accuracy").asDouble() >= 0 && m.get("accuracy").asDouble() <= 1);
        }
        assertEquals(Set.of("single:A", "single:B", "single:C", "rerank", "cool2", "cool", "cool+rerank", "cool-align"),
                methods);
        for (JsonNode item : root.get("items")) {
            JsonNode outs = item.get("outputs");
            for (String m : methods) {
                JsonNode o = outs.get(m);
                String text = o.get("text").asText();
                assertEquals(o.get("correct").asBoolean(),
                        o.get("extracted").isTextual() && o.get("extracted").asText().equals(item.get("gold").asText()));
                StringBuilder joined = new StringBuilder();
                o.get("segments").forEach(s -> joined.append(s.get("text").asText()));
                assertEquals(text, joined.toString(), m);
            }
            // rerank picks one of the single answers; cool+rerank one of those or the fused answer
            List<String> singles = List.of(outs.get("single:A").get("text").asText(), outs.get("single:B").get("text").asText(),
                    outs.get("single:C").get("text").asText());
            assertTrue(singles.contains(outs.get("rerank").get("text").asText()));
            String cr = outs.get("cool+rerank").get("text").asText();
            assertTrue(singles.contains(cr) || cr.equals(outs.get("cool").get("text").asText()));
            // every rerank candidate with its score and per-scorer perplexity; the winner has the lowest score
            for (String m : List.of("rerank", "cool+rerank")) {
                JsonNode cands = outs.get(m).get("candidates");
                assertEquals(m.equals("rerank") ? 3 : 4, cands.size(), m);
                double best = Double.POSITIVE_INFINITY;
                for (JsonNode c : cands) {
                    best = Math.min(best, c.get("score").asDouble());
                    assertEquals(3, c.get("perplexity").size());
                    assertFalse(c.has("metric"), "the default avg-ppl output keeps its keys: " + c);
                }
                boolean winnerIsBest = false;
                for (JsonNode c : cands) {
                    winnerIsBest |= c.get("score").asDouble() == best
                            && c.get("text").asText().equals(outs.get(m).get("text").asText());
                }
                assertTrue(winnerIsBest, m + ": " + cands);
            }
        }
        byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(png), 8);
        assertEquals(0x89, head[0] & 0xff);
        assertEquals("PNG", new String(head, 1, 3, java.nio.charset.StandardCharsets.US_ASCII));
    }

    @Test
    void anItemLongerThanAContextIsRecordedAsFailedAndTheRunGoesOn(@TempDir Path tmp) throws Exception {
        // Before, the first such item aborted the whole run.
        Path models = BundledModels.dir();
        String question = "Mia has 17 apples. She buys 11 more. How many apples does she have now?";
        Path data = Files.writeString(tmp.resolve("data.jsonl"),
                "{\"question\": \"" + (question + " ").repeat(40) + "\", \"answer\": \"#### 28\"}\n"
                + "{\"question\": \"" + question + "\", \"answer\": \"#### 28\"}\n");
        Path json = tmp.resolve("results.json");
        Cli.Result r = run("eval", "--config", models.resolve("fusion.yaml").toString(), "--data", data.toString(),
                "--methods", "single:A,cool", "--no-progress", "--out", json.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("1 of 2 items failed and count as wrong for every method; the first, line 1: "
                + "the prompt has"), r.out());
        JsonNode root = new ObjectMapper().readTree(json.toFile());
        assertEquals(1, root.get("failed").asInt());
        assertTrue(root.get("items").get(0).get("error").asText().contains("max context of 512 tokens"));
        assertFalse(root.get("items").get(1).has("error"));
        assertFalse(root.get("items").get(1).get("outputs").get("cool").get("text").asText().isEmpty());
        for (JsonNode m : root.get("methods")) {
            assertEquals(2, m.get("total").asInt());
        }
    }

    @Test
    void outputPathsAreCheckedBeforeTheEvaluation(@TempDir Path tmp) throws Exception {
        // Before, --out <a folder> failed only after the whole evaluation had run.
        String cfg = BundledModels.dir().resolve("fusion.yaml").toString();
        String data = BundledModels.dir().resolve("dev.jsonl").toString();
        Cli.Result folder = run("eval", "--config", cfg, "--data", data, "--no-progress", "--out", tmp.toString());
        assertEquals(1, folder.exitCode());
        assertEquals("error: --out " + tmp + " is a folder; give a file name, e.g. --out " + tmp.resolve("results.json"),
                folder.err().strip());
        assertTrue(folder.out().isEmpty(), "nothing ran: " + folder.out());
        Cli.Result chart = run("eval", "--config", cfg, "--data", data, "--no-progress", "--chart", tmp.toString());
        assertTrue(chart.err().startsWith("error: --chart " + tmp + " is a folder"), chart.err());
        Path file = Files.writeString(tmp.resolve("file"), "");
        Cli.Result under = run("eval", "--config", cfg, "--data", data, "--no-progress", "--out",
                file.resolve("results.json").toString());
        assertTrue(under.err().contains(file + " is a file, not a folder"), under.err());
        Path same = tmp.resolve("same");
        Cli.Result twice = run("eval", "--config", cfg, "--data", data, "--no-progress", "--out", same.toString(),
                "--chart", same.toString());
        assertTrue(twice.err().startsWith("error: --out and --chart are the same file"), twice.err());
    }

    @Test
    void dataThatIsNotUtf8IsNamedWithItsLine(@TempDir Path tmp) throws Exception {
        // Before: "cannot read data file ...: Input length = 1".
        Path latin1 = tmp.resolve("latin1.jsonl");
        Files.write(latin1, "{\"question\": \"Zo\u00eb has 2 pens.\", \"answer\": \"#### 2\"}\n"
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        Cli.Result r = run("eval", "--config", BundledModels.dir().resolve("fusion.yaml").toString(), "--data",
                latin1.toString(), "--no-progress");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().startsWith("error: " + latin1 + ":1: the file is not UTF-8 (byte 0xEB at column 17"), r.err());
    }

    @Test
    void badInputsGetClearErrors(@TempDir Path tmp) throws Exception {
        Path models = BundledModels.dir();
        String cfg = models.resolve("fusion.yaml").toString();
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"question\": \"q\", \"answer\": \"#### 1\"}\n\n{\"question\": \"q2\"}\n");
        Cli.Result r = run("eval", "--config", cfg, "--data", bad.toString(), "--no-progress");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("bad.jsonl:3: missing or empty \"answer\""), r.err());

        Files.writeString(bad, "{\"question\": \"q\", \"answer\": \"#### 1\"}\nnot json\n");
        r = run("eval", "--config", cfg, "--data", bad.toString(), "--no-progress");
        assertTrue(r.err().contains("bad.jsonl:2: malformed JSON"), r.err());

        Path good = tmp.resolve("good.jsonl");
        Files.writeString(good, "{\"question\": \"q\", \"answer\": \"#### 1\"}\n");
        r = run("eval", "--config", cfg, "--data", good.toString(), "--methods", "cool,best", "--no-progress");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("unknown method 'best'"), r.err());

        r = run("eval", "--config", cfg, "--data", good.toString(), "--rerank-end", "later", "--no-progress");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("--rerank-end must be stop, eos or none"), r.err());

        r = run("eval", "--config", tmp.resolve("missing.yaml").toString(), "--data", good.toString());
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("cannot read fusion config"), r.err());

        Path badMetric = tmp.resolve("m.yaml");
        Files.writeString(badMetric, Files.readString(Path.of(cfg)).replace("metric: avg-ppl", "metric: best-guess")
                .replace("path: a", "path: " + models.resolve("a")).replace("path: b", "path: " + models.resolve("b"))
                .replace("path: c", "path: " + models.resolve("c")));
        r = run("eval", "--config", badMetric.toString(), "--data", good.toString());
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("unknown metric 'best-guess'"), r.err());
    }
}
