package dev.coolfusion.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.Alignment;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FusionConfigLoaderTest {
    @TempDir
    Path dir;

    private Path write(String yaml) throws IOException {
        return Files.writeString(dir.resolve("fusion.yaml"), yaml);
    }

    @Test
    void readsSourcesMetricAndOptionsResolvingPaths() throws IOException {
        FusionConfig c = FusionConfigLoader.load(write("""
                sources:
                  - provider: djl
                    options: {path: models/a, device: cpu}
                  - provider: djl
                    options: {path: /abs/b}
                metric: bits-per-byte
                options:
                  max-new-tokens: 64
                  stop: ["\\n\\n", "Question:"]
                  segment-choice: longest
                  alignment: own
                  temperature: 0.7
                  top-p: 0.9
                  seed: 3
                """));
        assertEquals(2, c.sources().size());
        assertEquals(dir.resolve("models/a").toString(), c.sources().get(0).options().get("path"));
        assertEquals("cpu", c.sources().get(0).options().get("device"));
        assertEquals("/abs/b", c.sources().get(1).options().get("path"));
        assertEquals("bits-per-byte", c.metric().provider());
        assertEquals(64, c.options().maxNewTokens());
        assertEquals(List.of("\n\n", "Question:"), c.options().stopStrings());
        assertEquals(SegmentChoice.LONGEST, c.options().segmentChoice());
        assertEquals(Alignment.OWN, c.options().alignment());
        assertEquals(0.7, c.options().temperature());
        assertEquals(3, c.options().seed());
    }

    @Test
    void metricDefaultsToAveragePerplexity() throws IOException {
        FusionConfig c = FusionConfigLoader.load(write("sources: [{provider: x}]\n"));
        assertEquals("avg-ppl", c.metric().provider());
        assertEquals(256, c.options().maxNewTokens());
    }

    @Test
    void badConfigsGetErrorsThatNameTheProblem() throws IOException {
        assertMessage("cannot read fusion config", () -> FusionConfigLoader.load(dir.resolve("missing.yaml")));
        assertMessage("'sources' must list at least one source", () -> FusionConfigLoader.load(write("metric: avg-ppl\n")));
        assertMessage("unknown key 'sorces'", () -> FusionConfigLoader.load(write("sorces: []\n")));
        assertMessage("sources[0] needs 'provider'", () -> FusionConfigLoader.load(write("sources: [{options: {}}]\n")));
        assertMessage("options.max-new-tokens must be an integer",
                () -> FusionConfigLoader.load(write("sources: [{provider: x}]\noptions: {max-new-tokens: lots}\n")));
        assertMessage("alignment must be one of [common, own]",
                () -> FusionConfigLoader.load(write("sources: [{provider: x}]\noptions: {alignment: sideways}\n")));
        assertMessage("topP must be in (0, 1]",
                () -> FusionConfigLoader.load(write("sources: [{provider: x}]\noptions: {top-p: 2}\n")));
        assertMessage("cannot parse fusion config", () -> FusionConfigLoader.load(write("sources: [\n")));
        assertMessage("options.on-source-failure: unknown source failure policy 'skip': use 'fail'",
                () -> FusionConfigLoader.load(write("sources: [{provider: x}]\noptions: {on-source-failure: skip}\n")));
        assertMessage("options.batch-scoring must be true or false, got \"no\"",
                () -> FusionConfigLoader.load(write("sources: [{provider: x}]\noptions: {batch-scoring: \"no\"}\n")));
        assertMessage("options.reuse-lookahead must be true or false, got 1",
                () -> FusionConfigLoader.load(write("sources: [{provider: x}]\noptions: {reuse-lookahead: 1}\n")));
    }

    @Test
    void theFaultPolicyAndTheM3SwitchesAreRead() throws IOException {
        FusionOptions o = FusionConfigLoader.load(write("sources: [{provider: x}]\noptions: {on-source-failure: drop,"
                + " reuse-proposer-log-probs: false, batch-scoring: false}\n")).options();
        assertEquals(dev.coolfusion.core.SourceFailurePolicy.DROP, o.onSourceFailure());
        assertFalse(o.reuseProposerLogProbs());
        assertFalse(o.batchScoring());
        FusionOptions defaults = FusionConfigLoader.load(write("sources: [{provider: x}]\n")).options();
        assertEquals(dev.coolfusion.core.SourceFailurePolicy.FAIL, defaults.onSourceFailure());
        assertTrue(defaults.reuseProposerLogProbs() && defaults.batchScoring());
    }

    private static void assertMessage(String expected, org.junit.jupiter.api.function.Executable call) {
        FusionException e = assertThrows(FusionException.class, call);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void toYamlReadsBackToTheSameConfig(@TempDir Path dir) throws IOException {
        FusionConfig config = new FusionConfig(
                List.of(ComponentSpec.of("remote", Map.of("url", "http://127.0.0.1:8765", "model", "A: \"quoted\"")),
                        ComponentSpec.of("djl", Map.of("path", dir.resolve("b").toString(), "calibration-temperature", "0.75"))),
                ComponentSpec.of("bits-per-byte", Map.of("x", "1")),
                FusionOptions.builder().maxNewTokens(77).maxNewChars(900).stopStrings(List.of("\n\n", "Question:"))
                        .maxSegmentTokens(9).segmentChoice(SegmentChoice.LONGEST).alignment(Alignment.OWN)
                        .temperature(0.7).topP(0.9).seed(5_000_000_000L).reuseLookahead(false)
                        .reuseProposerLogProbs(false).batchScoring(false)
                        .onSourceFailure(dev.coolfusion.core.SourceFailurePolicy.DROP).build());
        Path file = dir.resolve("written.yaml");
        Files.writeString(file, FusionConfigLoader.toYaml(config));
        assertEquals(config, FusionConfigLoader.load(file));
        FusionConfig plain = FusionConfig.of(List.of(ComponentSpec.of("djl", Map.of("path", dir.toString()))));
        Files.writeString(file, FusionConfigLoader.toYaml(plain));
        assertEquals(plain, FusionConfigLoader.load(file));
    }
}
