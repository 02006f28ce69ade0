package dev.coolfusion.testkit;

import java.nio.file.Files;
import java.nio.file.Path;

/** The committed demo models under {@code models/} at the repository root, as tests (run in a module folder) see it. */
public final class BundledModels {
    private BundledModels() {}

    /** The {@code models/} folder; fails when it is missing, since every clone has it. */
    public static Path dir() {
        Path dir = Path.of("..", "models").toAbsolutePath().normalize();
        if (!Files.isRegularFile(dir.resolve("fusion.yaml"))) {
            throw new IllegalStateException("bundled models missing at " + dir + ": run the tests from a module folder of a clone");
        }
        return dir;
    }
}
