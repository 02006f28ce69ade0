package dev.coolfusion.core.metric;

import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.RerankMetricProvider;

/** ServiceLoader entry for {@link BitsPerByte}. */
public final class BitsPerByteProvider implements RerankMetricProvider {
    @Override
    public String name() {
        return BitsPerByte.NAME;
    }

    @Override
    public String description() {
        return "mean over models of negative log-likelihood in bits per UTF-8 byte (tokenizer-independent)";
    }

    @Override
    public RerankMetric create(ProviderConfig config) {
        return new BitsPerByte();
    }
}
