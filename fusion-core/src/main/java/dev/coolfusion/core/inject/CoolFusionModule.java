package dev.coolfusion.core.inject;

import static java.util.Objects.requireNonNull;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionExecutors;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import java.util.List;
import java.util.concurrent.Executor;

/**
 * Wires a {@link CoolFusion} from a {@link FusionConfig}: sources and metric come from the providers that
 * {@link PluginModule} binds. Install {@code new CoolFusionModule(config)}; it installs {@link PluginModule} itself.
 * The sources it creates are bound as {@code List<SourceModel>} so the application can close them.
 */
public final class CoolFusionModule extends AbstractModule {
    private final FusionConfig config;

    public CoolFusionModule(FusionConfig config) {
        this.config = requireNonNull(config, "config is null");
    }

    @Override
    protected void configure() {
        install(new PluginModule());
        bind(FusionConfig.class).toInstance(config);
        bind(FusionOptions.class).toInstance(config.options());
    }

    @Provides
    @Singleton
    Executor sourceExecutor() {
        return FusionExecutors.shared();
    }

    @Provides
    @Singleton
    List<SourceModel> sources(Plugins plugins, FusionConfig config) {
        return plugins.sourceModels(config.sources());
    }

    @Provides
    @Singleton
    RerankMetric metric(Plugins plugins, FusionConfig config) {
        return plugins.metric(config.metric());
    }

    @Provides
    @Singleton
    CoolFusion coolFusion(List<SourceModel> sources, RerankMetric metric, Executor executor) {
        return CoolFusion.builder().sources(sources).metric(metric).executor(executor).build();
    }
}
