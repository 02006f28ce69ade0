package dev.coolfusion.cli;

import static dev.coolfusion.cli.Cli.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.eval.Calibration;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.SourceModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code train-demo-models}, for a few steps: child JVMs in parallel, the same model B in one JVM, clear errors. */
class TrainDemoModelsCommandTest {
    @Test
    void parallelChildJvmsTrainAllModelsAndOneJvmTrainsModelBAlike(@TempDir Path tmp) throws Exception {
        Path parallel = tmp.resolve("parallel");
        Cli.Result r = run("train-demo-models", "--out", parallel.toString(), "--steps", "2", "--calibration-limit", "2");
        assertEquals(0, r.exitCode(), r.err() + r.out());
        for (String m : List.of("a", "b", "c")) {
            assertTrue(r.out().contains("[" + m + "] model " + m.toUpperCase() + " written"), r.out());
            for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")) {
                assertTrue(Files.isRegularFile(parallel.resolve(m).resolve(f)), m + "/" + f);
            }
        }
        assertTrue(Files.isRegularFile(parallel.resolve("heldout.jsonl")));
        assertTrue(Files.isRegularFile(parallel.resolve("dev.jsonl")));
        try (Stream<Path> files = Files.list(parallel)) {
            assertEquals(List.of(), files.filter(p -> p.getFileName().toString().startsWith(".")).toList(),
                    "no partial folders left");
        }
        // The written config carries each model's fitted temperature and loads all three, which score a continuation.
        FusionConfig config = FusionConfigLoader.load(parallel.resolve("fusion.yaml"));
        for (int i = 0; i < 3; i++) {
            String name = List.of("A", "B", "C").get(i);
            String t = config.sources().get(i).options().get(Calibration.OPTION);
            assertTrue(t != null && Double.parseDouble(t) > 0, name + ": " + config.sources().get(i));
            assertTrue(r.out().contains(String.format(Locale.ROOT, "calibrated %s: temperature %s", name, t)), r.out());
        }
        try (ConfiguredFusion setup = FusionFactory.discover().create(parallel.resolve("fusion.yaml"))) {
            assertEquals(List.of("A", "B", "C"), setup.sourceNames());
            for (SourceModel model : setup.sources()) {
                StateHandle state = model.open(model.codec().encodePrompt("Question: 2 + 3?\nAnswer:"));
                double lp = model.score(state, List.of(model.codec().encodeContinuation(" 5.").ids())).get(0)
                        .totalLogProb();
                assertTrue(lp < 0 && Double.isFinite(lp), model.name() + ": " + lp);
                model.release(List.of(state));
            }
        }

        // One model in this JVM: the same tokenizer (byte for byte) and the same model (CPU kernels may round the
        // last bits differently from run to run, so weights are compared through what they compute).
        Path single = tmp.resolve("single");
        Cli.Result one = run("train-demo-models", "--out", single.toString(), "--steps", "2", "--only", "b",
                "--jobs", "1");
        assertEquals(0, one.exitCode(), one.err() + one.out());
        assertFalse(one.out().contains("[b]"), "no child JVM for --jobs 1");
        assertArrayEquals(Files.readAllBytes(parallel.resolve("b/tokenizer.json")),
                Files.readAllBytes(single.resolve("b/tokenizer.json")));
        List<Double> childLogProbs = logProbs(parallel.resolve("b"));
        List<Double> inJvmLogProbs = logProbs(single.resolve("b"));
        assertEquals(childLogProbs.size(), inJvmLogProbs.size());
        for (int i = 0; i < childLogProbs.size(); i++) {
            assertEquals(childLogProbs.get(i), inJvmLogProbs.get(i), 1e-4, "token " + i);
        }
        assertFalse(Files.exists(single.resolve("a")), "--only b trains only b");
    }

    private static List<Double> logProbs(Path dir) {
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().build())) {
            StateHandle state = model.open(model.codec().encodePrompt("Question: Mia has 16 apples.\nAnswer:"));
            List<Double> lps = model.score(state, List.of(model.codec().encodeContinuation(" 16 + 7 = 23.").ids()))
                    .get(0).logProbs();
            model.release(List.of(state));
            return lps;
        }
    }

    @Test
    void badArgumentsNameTheProblem(@TempDir Path tmp) {
        Cli.Result unknown = run("train-demo-models", "--out", tmp.toString(), "--only", "a,z");
        assertNotEquals(0, unknown.exitCode());
        assertTrue(unknown.err().contains("unknown demo model 'z'") && unknown.err().contains("[a, b, c]"),
                unknown.err());
        Cli.Result steps = run("train-demo-models", "--out", tmp.toString(), "--steps", "0");
        assertNotEquals(0, steps.exitCode());
        assertTrue(steps.err().contains("--steps must be at least 1"), steps.err());
        Cli.Result jobs = run("train-demo-models", "--out", tmp.toString(), "--jobs", "0");
        assertNotEquals(0, jobs.exitCode());
        assertTrue(jobs.err().contains("--jobs must be at least 1"), jobs.err());
        Cli.Result calibration = run("train-demo-models", "--out", tmp.toString(), "--calibration-limit", "0");
        assertNotEquals(0, calibration.exitCode());
        assertTrue(calibration.err().contains("--calibration-limit must be at least 1"), calibration.err());
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(0, files.count(), "nothing written on bad arguments");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
