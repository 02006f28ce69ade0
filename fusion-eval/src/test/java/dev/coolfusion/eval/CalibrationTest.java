package dev.coolfusion.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.Plugins;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Temperature fitting on the bundled models and a few development items. */
class CalibrationTest {
    private static final FewShot SHOTS = BundledShots.three();

    @Test
    void fittedTemperatureIsALocalMinimumOfTheReferenceNll() {
        List<GsmItem> items = ReferenceNll.devItems(6);
        WholeAnswers.Ending ending = WholeAnswers.Ending.stop("\n\n");
        Calibration calibration = new Calibration(Plugins.discover(), SHOTS, ending);
        ComponentSpec spec = ReferenceNll.bundledSource(2);
        Calibration.Fit fit = calibration.fit(spec, items);
        assertEquals("C", fit.source());
        assertTrue(fit.temperature() >= Calibration.LOW && fit.temperature() <= Calibration.HIGH, fit.toString());
        assertTrue(fit.fittedNll() <= fit.rawNll(), fit.toString());
        // The fit scans temperatures from one forward's logits (double precision); a model loaded at each temperature
        // computes its log-softmax in float32.
        assertEquals(fit.rawNll(), ReferenceNll.nll(spec, 1, items, ending, SHOTS), 1e-5);
        assertEquals(fit.fittedNll(), ReferenceNll.nll(spec, fit.temperature(), items, ending, SHOTS), 1e-5);
        double t = fit.temperature();
        assertTrue(ReferenceNll.nll(spec, t * 1.05, items, ending, SHOTS) >= fit.fittedNll() - 1e-6, "higher T is no better");
        assertTrue(ReferenceNll.nll(spec, t / 1.05, items, ending, SHOTS) >= fit.fittedNll() - 1e-6, "lower T is no better");
        assertEquals(2, fit.passes(), "a djl model answers every temperature of a pass from one forward per answer");
    }

    @Test
    void scanningAndTheGoldenSectionSearchFindTheSameTemperature() {
        List<GsmItem> items = ReferenceNll.devItems(4);
        Calibration calibration = new Calibration(Plugins.discover(), SHOTS, WholeAnswers.Ending.stop("\n\n"));
        for (int source : new int[] {0, 1}) {
            ComponentSpec spec = ReferenceNll.bundledSource(source);
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
