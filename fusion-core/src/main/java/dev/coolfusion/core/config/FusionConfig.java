package dev.coolfusion.core.config;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.metric.AveragePerplexity;
import java.util.List;

/**
 * What a fusion is made of: source models by provider, the rerank metric, and default generation options.
 */
public record FusionConfig(List<ComponentSpec> sources, ComponentSpec metric, FusionOptions options) {
    public FusionConfig {
        sources = List.copyOf(requireNonNull(sources, "sources is null"));
        requireNonNull(metric, "metric is null");
        requireNonNull(options, "options is null");
        if (sources.isEmpty()) {
            throw new IllegalArgumentException("a fusion config needs at least one source");
        }
    }

    public static FusionConfig of(List<ComponentSpec> sources) {
        return new FusionConfig(sources, ComponentSpec.of(AveragePerplexity.NAME), FusionOptions.defaults());
    }
}
