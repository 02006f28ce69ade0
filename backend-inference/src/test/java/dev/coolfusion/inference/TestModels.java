package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelContract;
import dev.coolfusion.spi.StateHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.function.Executable;

/**
 * The bundled demo models the stand-in servers compute with, and what the provider tests share: a helper for error
 * messages, one for comparing scores, closing what a test class opened, and the SPI contract for a served model.
 */
final class TestModels {
    private TestModels() {}

    static Path bundledDir(String dir) {
        return Path.of("..", "models", dir).toAbsolutePath().normalize();
    }

    static DjlSourceModel bundled(String dir, String name) {
        Path folder = bundledDir(dir);
        assertTrue(Files.isRegularFile(folder.resolve("config.json")), "bundled demo model missing at " + folder);
        return DjlSourceModel.load(folder, DjlModelOptions.builder().name(name).build());
    }

    static FusionException assertMessage(Executable call, String... parts) {
        FusionException e = assertThrows(FusionException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' missing from: " + e.getMessage());
        }
        return e;
    }

    /**
     * Asserts that a served model's scores of each candidate equal the in-process model's, log-prob by log-prob, and
     * adds the states both returned to the lists of handles to release.
     */
    static void assertSameScores(List<ScoredTokens> expected, List<ScoredTokens> actual, List<StateHandle> expectedStates,
            List<StateHandle> actualStates) {
        for (int c = 0; c < expected.size(); c++) {
            assertEquals(expected.get(c).logProbs().size(), actual.get(c).logProbs().size());
            for (int i = 0; i < expected.get(c).logProbs().size(); i++) {
                assertEquals(expected.get(c).logProbs().get(i), actual.get(c).logProbs().get(i), 1e-4,
                        "candidate " + c + " token " + i);
            }
            actualStates.add(actual.get(c).state());
            expectedStates.add(expected.get(c).state());
        }
    }

    /** Closes each that is not null, in order (for an {@code @AfterAll}). */
    static void closeAll(AutoCloseable... closeables) {
        for (AutoCloseable c : closeables) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    /** The SPI contract for a served model, its live states counted by the model; a test nests a subclass. */
    abstract static class ServedContract extends SourceModelContract {
        abstract ServedSourceModel served();

        @Override
        protected SourceModel model() {
            return served();
        }

        @Override
        protected OptionalInt liveStates() {
            return OptionalInt.of(served().liveStates());
        }
    }
}
