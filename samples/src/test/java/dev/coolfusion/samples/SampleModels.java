package dev.coolfusion.samples;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A fusion YAML config over two hf-tiny fixture checkpoints (random weights, no chat template: plain fallback). */
final class SampleModels {
    private SampleModels() {}

    static Path hfTiny(String name) {
        String shared = System.getProperty("coolfusion.shared.dir", "../../shared");
        Path dir = Path.of(shared, "fixtures", "hf-tiny", name).toAbsolutePath();
        assumeTrue(Files.isRegularFile(dir.resolve("config.json")), "skipped: shared fixture " + dir + " not found");
        return dir;
    }

    static Path config(Path tmp, int maxNewTokens) throws IOException {
        Path yaml = tmp.resolve("fusion.yaml");
        Files.writeString(yaml, "sources:\n"
                + "  - provider: djl\n    options: {path: '" + hfTiny("llama") + "', name: llama}\n"
                + "  - provider: djl\n    options: {path: '" + hfTiny("qwen2") + "', name: qwen2}\n"
                + "options:\n  max-new-tokens: " + maxNewTokens + "\n  max-segment-tokens: 4\n");
        return yaml;
    }
}
