package dev.coolfusion.eval;

import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.inject.FusionConfig;
import dev.coolfusion.core.inject.FusionConfigLoader;
import dev.coolfusion.core.inject.Plugins;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import java.nio.file.Path;
import java.util.List;

/** The sources, metric and options a fusion config file names, created through the registered providers. */
public final class FusionSetup implements AutoCloseable {
    private final FusionConfig config;
    private final List<SourceModel> sources;
    private final RerankMetric metric;

    private FusionSetup(FusionConfig config, List<SourceModel> sources, RerankMetric metric) {
        this.config = config;
        this.sources = sources;
        this.metric = metric;
    }

    public static FusionSetup load(Path configFile) {
        return of(FusionConfigLoader.load(configFile));
    }

    /** Creates the config's metric and sources (all or nothing); {@link #close()} closes the sources. */
    public static FusionSetup of(FusionConfig config) {
        Plugins plugins = Plugins.discover();
        RerankMetric metric = plugins.metric(config.metric());
        return new FusionSetup(config, plugins.sourceModels(config.sources()), metric);
    }

    public FusionConfig config() {
        return config;
    }

    public List<SourceModel> sources() {
        return sources;
    }

    public List<String> sourceNames() {
        return sources.stream().map(SourceModel::name).toList();
    }

    public RerankMetric metric() {
        return metric;
    }

    public FusionOptions options() {
        return config.options();
    }

    @Override
    public void close() {
        sources.forEach(SourceModel::close);
    }
}
