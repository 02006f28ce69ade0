package dev.coolfusion.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.testkit.BundledModels;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.SourceModel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Temperature fitting on the bundled models and a few development items. */
class CalibrationTest {
    private static final FewShot SHOTS = BundledShots.three();

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
    void fittedTemperatureIsALocalMinimumOfTheReferenceNll() {
        List<GsmItem> items = devItems(6);
        WholeAnswers.Ending ending = WholeAnswers.Ending.stop("\n\n");
        Calibration calibration = new Calibration(Plugins.discover(), SHOTS, ending);
        ComponentSpec spec = bundledSource(2);
        Calibration.Fit fit = calibration.fit(spec, items);
        assertEquals("C", fit.source());
        assertTrue(fit.temperature() >= Calibration.LOW && fit.temperature() <= Calibration.HIGH, fit.toString());
        assertTrue(fit.fittedNll() <= fit.rawNll(), fit.toString());
        // The fit scans temperatures from one forward's logits (double precision); a model loaded at each temperature
        // computes its log-softmax in float32.
        assertEquals(fit.rawNll(), nll(spec, 1, items, ending), 1e-5);
        assertEquals(fit.fittedNll(), nll(spec, fit.temperature(), items, ending), 1e-5);
        double t = fit.temperature();
        assertTrue(nll(spec, t * 1.05, items, ending) >= fit.fittedNll() - 1e-6, "higher T is no better");
        assertTrue(nll(spec, t / 1.05, items, ending) >= fit.fittedNll() - 1e-6, "lower T is no better");
        assertEquals(2, fit.passes(), "a djl model answers every temperature of a pass from one forward per answer");
    }

    @Test
    void scanningAndTheGoldenSectionSearchFindTheSameTemperature() {
        List<GsmItem> items = devItems(4);
        Calibration calibration = new Calibration(Plugins.discover(), SHOTS, WholeAnswers.Ending.stop("\n\n"));
        for (int source : new int[] {0, 1}) {
            ComponentSpec spec = bundledSource(source);
            Calibration.Fit scanned = calibration.fit(spec, items);
            Calibration.Fit searched = calibration.searchOnly().fit(spec, items);
            assertEquals(Math.log(searched.temperature()), Math.log(scanned.temperature()), 0.01,
                    scanned + " vs " + searched);
            assertEquals(searched.fittedNll(), scanned.fittedNll(), 1e-4);
            assertEquals(searched.tokens(), scanned.tokens());
            assertEquals(2, scanned.passes());
            assertTrue(searched.passes() > 10, "golden-section search loads the model per temperature: " + searched);
            assertTrue(searched.passes() < 25, "golden-section search took " + searched.passes() + " evaluations");
        }
    }
}
