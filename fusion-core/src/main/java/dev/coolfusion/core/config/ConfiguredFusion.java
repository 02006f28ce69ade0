package dev.coolfusion.core.config;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import java.util.List;
import java.util.Optional;

/**
 * A {@link CoolFusion} with the generation options to use where a request sets none, as {@link FusionFactory} makes
 * it from a {@link FusionConfig} or as a caller assembles it ({@link #of}).
 *
 * <p>{@link #close()} closes the source models only when this object created them (from a config); sources a caller
 * passed in stay the caller's to close.
 */
public final class ConfiguredFusion implements AutoCloseable {
    private final CoolFusion fusion;
    private final FusionOptions options;
    private final Optional<FusionConfig> config;

    private ConfiguredFusion(CoolFusion fusion, FusionOptions options, Optional<FusionConfig> config) {
        this.fusion = requireNonNull(fusion, "fusion is null");
        this.options = requireNonNull(options, "options is null");
        this.config = config;
    }

    /** A fusion made from {@code config}, which owns (and closes) its sources. */
    static ConfiguredFusion fromConfig(CoolFusion fusion, FusionConfig config) {
        return new ConfiguredFusion(fusion, config.options(), Optional.of(config));
    }

    /** A fusion the caller owns (and whose sources the caller closes), with its default options. */
    public static ConfiguredFusion of(CoolFusion fusion, FusionOptions options) {
        return new ConfiguredFusion(fusion, options, Optional.empty());
    }

    /** The given source models (owned by the caller), fused with the default metric and options. */
    public static ConfiguredFusion of(List<? extends SourceModel> sources) {
        requireNonNull(sources, "sources is null");
        return of(CoolFusion.builder().sources(sources).build(), FusionOptions.defaults());
    }

    /** The config this fusion was made from; empty when a caller assembled it. */
    public Optional<FusionConfig> config() {
        return config;
    }

    public CoolFusion fusion() {
        return fusion;
    }

    /** The generation options to use where a request does not set a parameter. */
    public FusionOptions options() {
        return options;
    }

    public List<SourceModel> sources() {
        return fusion.sources();
    }

    public List<String> sourceNames() {
        return fusion.sources().stream().map(SourceModel::name).toList();
    }

    public RerankMetric metric() {
        return fusion.metric();
    }

    /** Closes the source models if they were created for this fusion; the first failure is thrown, others suppressed. */
    @Override
    public void close() {
        if (config.isPresent()) {
            FusionFactory.closeAll(fusion.sources(), null);
        }
    }
}
