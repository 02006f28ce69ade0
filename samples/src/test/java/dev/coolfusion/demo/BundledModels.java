package dev.coolfusion.demo;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The committed demo models under models/ at the repository root (tests run in samples/). */
public final class BundledModels {
    private BundledModels() {}

    public static Path dir() {
        Path dir = Path.of("..", "models").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(dir.resolve("fusion.yaml")), "bundled models missing at " + dir);
        return dir;
    }
}
