package dev.coolfusion.djl.model;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Compares the forward pass with Hugging Face transformers' logits in {@code shared/fixtures/hf-tiny} (their
 * log-softmax, 1e-4 absolute, float32): one forward over all positions, forwards of every prefix, the cached path
 * (prefix of 8, then 4 single-token steps), and batched scoring (one forward over all positions, and from the prefix,
 * equal to scoring each candidate alone). See {@link ReferenceCheck}.
 */
class HfTinyReferenceTest {
    @ParameterizedTest
    @ValueSource(strings = {"llama", "llama-rope-llama3", "llama-tied", "llama-sharded", "mistral", "qwen2", "phi3"})
    void matchesReference(String folder) {
        Path dir = Fixtures.hfTiny(folder);
        double worst = ReferenceCheck.run(dir, ReferenceCheck.reference(dir), folder);
        System.out.printf("hf-tiny/%s: max abs diff of log-probs %.3g%n", folder, worst);
    }
}
