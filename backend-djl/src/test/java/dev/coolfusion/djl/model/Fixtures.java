package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the shared read-only fixtures: system property {@code coolfusion.shared.dir}, else {@code ../shared}. */
final class Fixtures {
    private Fixtures() {}

    static Path sharedDir() {
        String prop = System.getProperty("coolfusion.shared.dir");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        Path dir = Path.of("").toAbsolutePath();
        // backend-djl/ -> repo root -> ../shared
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("mvnw"))) {
                return p.resolveSibling("shared");
            }
        }
        return dir.resolveSibling("shared");
    }

    /** The folder of one hf-tiny model; skips the test with a message when the fixtures are missing. */
    static Path hfTiny(String model) {
        return fixture("hf-tiny", model);
    }

    /** The folder of one hf-tiny2 model (transformers-5 configs of today's families); skips when missing. */
    static Path hfTiny2(String model) {
        return fixture("hf-tiny2", model);
    }

    /** The folder of a fixture named {@code hf-tiny/<model>} or {@code hf-tiny2/<model>}; skips when missing. */
    static Path named(String setAndModel) {
        String[] parts = setAndModel.split("/", 2);
        return fixture(parts[0], parts[1]);
    }

    private static Path fixture(String set, String model) {
        Path dir = sharedDir().resolve("fixtures").resolve(set).resolve(model);
        assumeTrue(Files.isRegularFile(dir.resolve("reference.json")),
                "shared fixture " + dir + " is missing (set -Dcoolfusion.shared.dir); skipping");
        return dir;
    }
}
