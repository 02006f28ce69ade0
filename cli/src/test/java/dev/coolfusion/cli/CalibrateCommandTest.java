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
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.eval.ReferenceNll;
import dev.coolfusion.testkit.BundledModels;
import dev.coolfusion.spi.FusionException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code calibrate} command on the bundled models, and calibration of a source whose provider cannot be tempered. */
class CalibrateCommandTest {
    private static final FewShot SHOTS = GsmDataOptions.builtInShots(3);

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
        List<GsmItem> items = ReferenceNll.devItems(2);
        try (ConfiguredFusion setup = FusionFactory.discover().create(out)) {
            for (int i = 0; i < original.sources().size(); i++) {
                double t = Double.parseDouble(calibrated.sources().get(i).options().get(Calibration.OPTION));
                assertEquals(ReferenceNll.nll(ReferenceNll.bundledSource(i), t, items, ending, SHOTS), ReferenceNll.nll(setup.sources().get(i), items, ending, SHOTS), 1e-9,
                        setup.sourceNames().get(i));
            }
        }
    }

    @Test
    void aSourceWhoseProviderHasNoTemperatureIsNamed() {
        Calibration calibration = new Calibration(Plugins.discover(), SHOTS, WholeAnswers.Ending.stop("\n\n"));
        FusionException e = assertThrows(FusionException.class, () -> calibration.fitAll(
                List.of(ComponentSpec.of("remote", Map.of("url", "http://127.0.0.1:1"))), ReferenceNll.devItems(1), 1));
        assertTrue(e.getMessage().contains("calibrating a 'remote' source") && e.getMessage().contains(Calibration.OPTION),
                e.getMessage());
    }

    @Test
    void badArgumentsAreNamed() {
        Cli.Result r = Cli.run("calibrate", "--config", BundledModels.dir().resolve("fusion.yaml").toString(), "--data",
                BundledModels.dir().resolve("dev.jsonl").toString(), "--limit", "0");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("--limit"), r.err());
        // --out is checked before the fit, not after it.
        Cli.Result folder = Cli.run("calibrate", "--config", BundledModels.dir().resolve("fusion.yaml").toString(), "--data",
                BundledModels.dir().resolve("dev.jsonl").toString(), "--out", BundledModels.dir().toString());
        assertEquals(1, folder.exitCode());
        assertTrue(folder.err().startsWith("error: --out " + BundledModels.dir() + " is a folder; give a file name"),
                folder.err());
        assertTrue(folder.out().isEmpty(), "nothing was fitted: " + folder.out());
        Cli.Result missing = Cli.run("calibrate", "--config", "no-such.yaml", "--data",
                BundledModels.dir().resolve("dev.jsonl").toString());
        assertNotEquals(0, missing.exitCode());
        assertTrue(missing.err().contains("no-such.yaml"), missing.err());
    }
}
