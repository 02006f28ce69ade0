package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.BundledModels;
import java.util.List;
import org.junit.jupiter.api.Test;

class BenchFusionCommandTest {

    @Test
    void printsEveryMeasurementAndEveryOptimisationGivesIdenticalOutputs() {
        String config = BundledModels.dir().resolve("fusion.yaml").toString();
        String data = BundledModels.dir().resolve("heldout.jsonl").toString();
        Cli.Result r = Cli.run("bench-fusion", "--config", config, "--data", data, "--items", "2", "--concurrency", "1,2");
        assertEquals(0, r.exitCode(), r.out() + r.err());
        String out = r.out();
        assertTrue(out.startsWith("bench-fusion: 2 items of " + data + " (3-shot, greedy), sources [A, B, C], metric avg-ppl"),
                out);
        for (String source : List.of("A", "B", "C")) {
            assertTrue(out.lines().anyMatch(l -> l.matches("  " + source + " +[0-9.]+ words/s +[0-9.]+ tokens/s .*")),
                    "a single-model line for " + source + ": " + out);
        }
        assertTrue(out.lines().anyMatch(l -> l.matches("fused A\\+B\\+C: [0-9.]+ words/s, [0-9.]+ tokens/s \\(A's tokens\\),"
                + " [0-9.]+x the slowest single, [0-9.]+x the fastest")), out);
        List<String> variants = List.of("all on", "no look-ahead reuse", "no proposer log-probs in M3", "no batched M3",
                "sequential sources", "all off");
        for (String variant : variants) {
            List<String> lines = out.lines().filter(l -> l.startsWith("  " + variant + " ")).toList();
            assertEquals(1, lines.size(), variant + ": " + out);
            String[] columns = lines.get(0).substring(2 + variant.length()).trim().split("\\s+");
            assertEquals("identical:", columns[columns.length - 2], lines.get(0));
            assertEquals("yes", columns[columns.length - 1], "the same outputs with '" + variant + "': " + lines.get(0));
            assertTrue(Double.parseDouble(columns[2]) > 0, "model calls per step: " + lines.get(0));
            assertTrue(Double.parseDouble(columns[3]) > 0, "tokenizer calls per step: " + lines.get(0));
            for (int share : new int[] {4, 5}) { // of wall time, of model and tokenizer call time
                assertTrue(columns[share].matches("[0-9.]+%"), "a tokenizer share: " + lines.get(0));
            }
        }
        // switching the proposers' own log-probs off costs more model calls per step than all on
        assertTrue(calls(out, "no proposer log-probs in M3") > calls(out, "all on"), out);
        assertTrue(calls(out, "no batched M3") >= calls(out, "all on"), out);
        for (int c : new int[] {1, 2}) {
            assertTrue(out.lines().anyMatch(l -> l.matches(" +" + c + " at a time: +[0-9.]+ words/s, [0-9.]+x one at a"
                    + " time, [0-9.]+ model calls per forward  identical: yes")), c + " at a time: " + out);
        }
        assertTrue(out.lines().anyMatch(l -> l.matches("peak resident memory \\(VmHWM\\): ([0-9]+ MB|unknown .*)")), out);
    }

    private static double calls(String out, String variant) {
        String line = out.lines().filter(l -> l.startsWith("  " + variant + " ")).findFirst().orElseThrow();
        String[] columns = line.substring(2 + variant.length()).trim().split("\\s+");
        return Double.parseDouble(columns[2]);
    }

    @Test
    void badArgumentsAreClearErrors() {
        Cli.Result r = Cli.run("bench-fusion", "--items", "0");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("--items must be at least 1, got 0"), r.err());
        Cli.Result c = Cli.run("bench-fusion", "--concurrency", "1,0");
        assertTrue(c.err().contains("--concurrency: every level must be at least 1, got 0"), c.err());
        assertEquals(1, c.exitCode());
    }
}
