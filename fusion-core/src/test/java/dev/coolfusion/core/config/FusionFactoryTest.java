package dev.coolfusion.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.TestModels;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.RerankMetricProvider;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Every way a config can fail to become a fusion is a FusionException that says what to do. */
class FusionFactoryTest {

    /** A backend: scripted sources, or (option {@code broken}) one whose creation fails with a plain exception. */
    static final class ScriptedProvider implements SourceModelProvider {
        @Override
        public String name() {
            return "scripted";
        }

        @Override
        public SourceModel create(ProviderConfig config) {
            if (config.get("broken").isPresent()) {
                throw new IllegalArgumentException("weights file is truncated");
            }
            return TestModels.scripted(config.require("name"), "hello world", 0.9);
        }
    }

    private static FusionFactory factory() {
        return new FusionFactory(new Plugins(Map.of("scripted", new ScriptedProvider()), Map.of(),
                Plugins.load(RerankMetricProvider.class)));
    }

    private static FusionConfig config(List<Map<String, String>> sources) {
        return new FusionConfig(sources.stream().map(o -> ComponentSpec.of("scripted", o)).toList(),
                ComponentSpec.of("avg-ppl"), FusionOptions.defaults());
    }

    @Test
    void withoutTheBackendJarTheBundledConfigNamesTheArtifactToAdd() {
        // fusion-core's class path has no backend, like a project that depends on langchain4j-adapter only.
        Path bundled = Path.of("..", "models", "fusion.yaml");
        FusionException e = assertThrows(FusionException.class, () -> FusionFactory.discover().create(bundled));
        assertTrue(e.getMessage().startsWith("unknown model backend 'djl'; available: []."), e.getMessage());
        assertTrue(e.getMessage().contains("The 'djl' model backend is in dev.coolfusion:backend-djl: add that artifact"),
                e.getMessage());
        assertEquals("dev.coolfusion:backend-remote", Plugins.artifactOf("remote").orElseThrow());
        assertEquals("dev.coolfusion:backend-inference", Plugins.artifactOf("vllm").orElseThrow());
        assertEquals("dev.coolfusion:backend-inference", Plugins.artifactOf("llama-cpp").orElseThrow());
        FusionException codec = assertThrows(FusionException.class,
                () -> Plugins.discover().codec(ComponentSpec.of("hf-tokenizer")));
        assertTrue(codec.getMessage().contains("dev.coolfusion:tokenizers-hf"), codec.getMessage());
        FusionException other = assertThrows(FusionException.class,
                () -> Plugins.discover().sourceModel(ComponentSpec.of("my-backend")));
        assertTrue(other.getMessage().contains("lists it in META-INF/services"), other.getMessage());
    }

    @Test
    void aProvidersOwnExceptionBecomesAFusionExceptionNamingTheProvider() {
        FusionException e = assertThrows(FusionException.class,
                () -> factory().create(config(List.of(Map.of("name", "a"), Map.of("broken", "yes")))));
        assertEquals("model backend provider 'scripted' failed: weights file is truncated", e.getMessage());
        assertInstanceOf(IllegalArgumentException.class, e.getCause());
    }

    @Test
    void twoSourcesWithOneNameAreAFusionException() {
        // Before, CoolFusion.Builder's IllegalStateException reached the command line as a stack trace.
        FusionException e = assertThrows(FusionException.class,
                () -> factory().create(config(List.of(Map.of("name", "A"), Map.of("name", "A")))));
        assertTrue(e.getMessage().contains("two sources are named 'A'"), e.getMessage());
        assertTrue(e.getMessage().contains("'name' option"), e.getMessage());
        assertInstanceOf(IllegalStateException.class, e.getCause());
    }
}
