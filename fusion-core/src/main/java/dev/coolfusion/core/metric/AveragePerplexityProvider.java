package dev.coolfusion.core.metric;

import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.RerankMetricProvider;

/** ServiceLoader entry for {@link AveragePerplexity}. */
public final class AveragePerplexityProvider implements RerankMetricProvider {
    @Override
    public String name() {
        return AveragePerplexity.NAME;
    }

    @Override
    public String description() {
        return "mean over models of per-token perplexity (the paper's Eq. 3)";
    }

    @Override
    public RerankMetric create(ProviderConfig config) {
        return new AveragePerplexity();
    }
}
