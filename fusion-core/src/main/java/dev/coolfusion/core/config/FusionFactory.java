package dev.coolfusion.core.config;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The one way a {@link FusionConfig} becomes a running fusion: the metric and every source are created through the
 * {@link Plugins} registry (all or nothing) and joined in a {@link CoolFusion}. The command line, the evaluation,
 * the LangChain4j adapter and the Guice module all call it.
 */
public final class FusionFactory {
    private final Plugins plugins;

    public FusionFactory(Plugins plugins) {
        this.plugins = requireNonNull(plugins, "plugins is null");
    }

    /** A factory over the providers found on the class path ({@link Plugins#discover()}). */
    public static FusionFactory discover() {
        return new FusionFactory(Plugins.discover());
    }

    public Plugins plugins() {
        return plugins;
    }

    /** Reads a YAML config ({@link FusionConfigLoader}) and creates its fusion. */
    public ConfiguredFusion create(Path yaml) {
        return create(FusionConfigLoader.load(requireNonNull(yaml, "yaml is null")));
    }

    /**
     * Creates the config's metric and sources and fuses them. If any part fails, the sources already created are
     * closed before the error propagates. Every failure is a {@link FusionException} (two sources with one name
     * too). {@link ConfiguredFusion#close()} closes the sources.
     */
    public ConfiguredFusion create(FusionConfig config) {
        requireNonNull(config, "config is null");
        RerankMetric metric = plugins.metric(config.metric());
        List<SourceModel> sources = plugins.sourceModels(config.sources());
        try {
            CoolFusion fusion;
            try {
                fusion = CoolFusion.builder().sources(sources).metric(metric).build();
            } catch (IllegalStateException e) {
                throw new FusionException("the config's sources cannot be fused: " + e.getMessage()
                        + " (its 'name' option)", e);
            }
            return ConfiguredFusion.fromConfig(fusion, config);
        } catch (RuntimeException e) {
            closeAll(sources, e);
            throw e;
        }
    }

    /**
     * Closes every model. With {@code failure} set, close errors are added to it as suppressed; otherwise the first
     * is thrown after all were tried, with the others suppressed.
     */
    static void closeAll(List<? extends SourceModel> models, RuntimeException failure) {
        RuntimeException first = failure;
        for (SourceModel model : new ArrayList<>(models)) {
            try {
                model.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (failure == null && first != null) {
            throw first;
        }
    }
}
