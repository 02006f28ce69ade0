package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.eval.Calibration;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.eval.Rerank;
import dev.coolfusion.testkit.BundledModels;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.SourceModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code calibrate} command on the bundled models, and calibration of a source whose provider cannot be tempered. */
class CalibrateCommandTest {
    private static final FewShot SHOTS = GsmDataOptions.builtInShots(3);

    private static List<GsmItem> devItems(int n) {
        return GsmData.read(BundledModels.dir().resolve("dev.jsonl")).subList(0, n);
    }

    private static ComponentSpec bundledSource(int index) {
        ComponentSpec spec = FusionConfigLoader.load(BundledModels.dir().resolve("fusion.yaml")).sources().get(index);
        Map<String, String> options = new HashMap<>(spec.options());
        options.remove(Calibration.OPTION);
        return ComponentSpec.of(spec.provider(), options);
    }

    /** Mean NLL per token of the items' reference answers, measured independently of the fitting code's cache. */
    private static double nll(ComponentSpec spec, double temperature, List<GsmItem> items, WholeAnswers.Ending ending) {
        Map<String, String> options = new HashMap<>(spec.options());
        options.put(Calibration.OPTION, Double.toString(temperature));
        try (SourceModel model = Plugins.discover().sourceModel(ComponentSpec.of(spec.provider(), options))) {
            return nll(model, items, ending);
        }
    }

    private static double nll(SourceModel model, List<GsmItem> items, WholeAnswers.Ending ending) {
        double total = 0;
        long tokens = 0;
        for (GsmItem item : items) {
            List<CandidateEvidence> ev = Rerank.assess(SHOTS.prompt(item.question()), List.of(" " + item.workedAnswer()),
                    List.of(model), ending);
            ModelLogProbs lp = ev.get(0).byModel().get(0);
            total += lp.totalNll();
            tokens += lp.logProbs().size();
        }
        return total / tokens;
    }

    @Test
    void calibrateCommandWritesAConfigThatLoadsTheSameModelsCalibrated(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("elsewhere").resolve("calibrated.yaml");
        Cli.Result r = Cli.run("calibrate", "--config", BundledModels.dir().resolve("fusion.yaml").toString(), "--data",
                BundledModels.dir().resolve("dev.jsonl").toString(), "--limit", "3", "--out", out.toString());
        assertEquals(0, r.exitCode(), r.err() + r.out());
        for (String name : List.of("A", "B", "C")) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(name + " ")), r.out());
        }
        FusionConfig original = FusionConfigLoader.load(BundledModels.dir().resolve("fusion.yaml"));
        FusionConfig calibrated = FusionConfigLoader.load(out);
        assertEquals(original.sources().size(), calibrated.sources().size());
        assertEquals(original.options(), calibrated.options());
        for (int i = 0; i < original.sources().size(); i++) {
            Map<String, String> a = original.sources().get(i).options();
            Map<String, String> b = calibrated.sources().get(i).options();
            assertEquals(Path.of(a.get("path")).toRealPath(), Path.of(b.get("path")).toRealPath(),
                    "relative model paths must still point at the same folder");
            assertEquals(a.get("name"), b.get("name"));
            double t = Double.parseDouble(b.get(Calibration.OPTION));
            assertTrue(t >= 0.25 && t <= 4.0, b.toString());
            String row = r.out().lines().filter(l -> l.startsWith(a.get("name") + " ")).findFirst().orElseThrow();
            assertEquals(t, Double.parseDouble(row.trim().split("\\s+")[1]), 1e-3, row);
        }
        assertTrue(Files.list(out.getParent()).noneMatch(p -> p.getFileName().toString().endsWith(".partial")));
        // The written config loads each model at its written temperature, from the same folder.
        WholeAnswers.Ending ending = WholeAnswers.Ending.of(calibrated.options());
        List<GsmItem> items = devItems(2);
        try (ConfiguredFusion setup = FusionFactory.discover().create(out)) {
            for (int i = 0; i < original.sources().size(); i++) {
                double t = Double.parseDouble(calibrated.sources().get(i).options().get(Calibration.OPTION));
                assertEquals(nll(bundledSource(i), t, items, ending), nll(setup.sources().get(i), items, ending), 1e-9,
                        setup.sourceNames().get(i));
            }
        }
    }

    @Test
    void aSourceWhoseProviderHasNoTemperatureIsNamed() {
        Calibration calibration = new Calibration(Plugins.discover(), SHOTS, WholeAnswers.Ending.stop("\n\n"));
        FusionException e = assertThrows(FusionException.class, () -> calibration.fitAll(
                List.of(ComponentSpec.of("remote", Map.of("url", "http://127.0.0.1:1"))), devItems(1), 1));
        assertTrue(e.getMessage().contains("calibrating a 'remote' source") && e.getMessage().contains(Calibration.OPTION),
                e.getMessage());
    }

    @Test
    void badArgumentsAreNamed() {
        Cli.Result r = Cli.run("calibrate", "--config", BundledModels.dir().resolve("fusion.yaml").toString(), "--data",
                BundledModels.dir().resolve("dev.jsonl").toString(), "--limit", "0");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("--limit"), r.err());
        Cli.Result missing = Cli.run("calibrate", "--config", "no-such.yaml", "--data",
                BundledModels.dir().resolve("dev.jsonl").toString());
        assertNotEquals(0, missing.exitCode());
        assertTrue(missing.err().contains("no-such.yaml"), missing.err());
    }
}
