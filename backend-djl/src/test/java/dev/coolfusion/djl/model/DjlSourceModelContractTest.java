package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelContract;
import dev.coolfusion.spi.StateHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The SPI's contract on DJL models: the bundled demo model B (SentencePiece-style with byte fallback), raw and
 * calibrated; and their tempered NLL against models loaded at each temperature.
 */
class DjlSourceModelContractTest {
    static DjlSourceModel raw;
    static DjlSourceModel calibrated;

    @BeforeAll
    static void load() {
        Path folder = Path.of("..", "models", "b").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(folder.resolve("config.json")), "bundled demo model missing at " + folder);
        raw = DjlSourceModel.load(folder, DjlModelOptions.builder().name("B").build());
        calibrated = DjlSourceModel.load(folder, DjlModelOptions.builder().name("B-cal").calibrationTemperature(0.7).build());
    }

    @AfterAll
    static void close() {
        if (raw != null) {
            raw.close();
        }
        if (calibrated != null) {
            calibrated.close();
        }
    }

    /** NLL of {@code text} after {@code prompt} by scoring, the way calibration measured it one model per temperature. */
    private static double scoredNll(DjlSourceModel model, List<Integer> prompt, List<Integer> text) {
        StateHandle s = model.open(prompt);
        try {
            ScoredTokens scored = model.score(s, List.of(text)).get(0);
            model.release(List.of(scored.state()));
            return -scored.totalLogProb();
        } finally {
            model.release(List.of(s));
        }
    }

    @Test
    void temperedNllEqualsScoringAModelLoadedAtThatTemperature() {
        Path folder = raw.directory();
        List<Integer> prompt = raw.codec().encodePrompt("Question: Tom has 3 boxes of 12 pencils. He gives away 7."
                + " How many are left?\nAnswer:");
        List<Integer> text = raw.codec().encodeContinuation(" 3 * 12 = 36. 36 - 7 = 29. The answer is 29.\n\n").ids();
        double[] relative = {0.4, 1.0, 2.5};
        for (DjlSourceModel model : List.of(raw, calibrated)) {
            double base = model == raw ? 1.0 : 0.7;
            StateHandle s = model.open(prompt);
            double[] tempered;
            try {
                tempered = model.nllAtTemperatures(s, text, relative).orElseThrow();
            } finally {
                model.release(List.of(s));
            }
            for (int i = 0; i < relative.length; i++) {
                double t = base * relative[i];
                try (DjlSourceModel atT = DjlSourceModel.load(folder, DjlModelOptions.builder().calibrationTemperature(t).build())) {
                    assertEquals(scoredNll(atT, prompt, text), tempered[i], 1e-3,
                            model.name() + " at relative T " + relative[i] + " = absolute " + t);
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> {
            StateHandle s = raw.open(prompt);
            try {
                raw.nllAtTemperatures(s, text, new double[] {0});
            } finally {
                raw.release(List.of(s));
            }
        });
    }

    @Nested
    class Raw extends SourceModelContract {
        @Override
        protected SourceModel model() {
            return raw;
        }

        @Override
        protected OptionalInt liveStates() {
            return OptionalInt.of(raw.liveStates());
        }
    }

    @Nested
    class Calibrated extends SourceModelContract {
        @Override
        protected SourceModel model() {
            return calibrated;
        }

        @Override
        protected OptionalInt liveStates() {
            return OptionalInt.of(calibrated.liveStates());
        }
    }
}
