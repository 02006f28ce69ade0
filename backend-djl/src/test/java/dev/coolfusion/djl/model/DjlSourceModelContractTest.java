package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelContract;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;

/** The SPI's contract on DJL models: the bundled demo model B (SentencePiece-style with byte fallback), raw and calibrated. */
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
