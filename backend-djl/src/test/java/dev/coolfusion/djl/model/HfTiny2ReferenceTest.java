package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The families users load today ({@code shared/fixtures/hf-tiny2}, saved by transformers 5.17) against transformers'
 * logits, as {@link HfTinyReferenceTest} does for hf-tiny; and the same folder with its config in the transformers
 * 4.x format ({@link LegacyConfigs}) gives the same configuration and the same numbers.
 */
class HfTiny2ReferenceTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"llama-rope-parameters", "phi3-longrope-short", "phi3-longrope-long", "glm", "glm4", "qwen3",
        "gemma2", "gemma3", "mistral-sliding-window"})
    void matchesReference(String folder) {
        Path dir = Fixtures.hfTiny2(folder);
        double worst = ReferenceCheck.run(dir, ReferenceCheck.reference(dir), folder);
        System.out.printf("hf-tiny2/%s: max abs diff of log-probs %.3g%n", folder, worst);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-rope-parameters", "phi3-longrope-short", "phi3-longrope-long", "glm", "glm4", "qwen3",
        "gemma2", "gemma3", "mistral-sliding-window"})
    void transformersFourFormatGivesTheSameModel(String folder) {
        Path dir = Fixtures.hfTiny2(folder);
        Path legacy = LegacyConfigs.copyAsFourX(dir, tmp.resolve(folder));
        assertEquals(ModelConfig.read(dir), ModelConfig.read(legacy), folder + ": 5.x and 4.x configs");
        JsonNode ref = ReferenceCheck.reference(dir);
        double worst = ReferenceCheck.run(legacy, ref, folder + " (4.x config)");
        System.out.printf("hf-tiny2/%s, 4.x config: max abs diff of log-probs %.3g%n", folder, worst);
    }
}
