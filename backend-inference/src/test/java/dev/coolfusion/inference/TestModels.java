package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.FusionException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.function.Executable;

/** The bundled demo models the stand-in servers compute with, and a helper for error messages. */
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
}
