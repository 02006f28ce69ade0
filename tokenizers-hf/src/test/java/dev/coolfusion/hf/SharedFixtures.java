package dev.coolfusion.hf;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates {@code ../shared/fixtures}; tests that need it are skipped with a message when it is missing. */
public final class SharedFixtures {
    private SharedFixtures() {}

    public static Path root() {
        String configured = System.getProperty("coolfusion.shared.dir");
        Path shared = configured != null ? Path.of(configured) : Path.of("..", "shared");
        if (!Files.isDirectory(shared.resolve("fixtures")) && Files.isDirectory(Path.of("..", "..", "shared", "fixtures"))) {
            shared = Path.of("..", "..", "shared");
        }
        Path fixtures = shared.resolve("fixtures");
        assumeTrue(Files.isDirectory(fixtures), "skipped: shared test fixtures not found at " + fixtures.toAbsolutePath()
                + " (clone the project next to its shared/ folder, or set -Dcoolfusion.shared.dir)");
        return fixtures;
    }

    public static Path tokenizer(String family) {
        Path dir = root().resolve("tokenizers").resolve(family);
        assumeTrue(Files.isRegularFile(dir.resolve("tokenizer.json")), "skipped: no tokenizer fixture " + dir);
        return dir;
    }
}
