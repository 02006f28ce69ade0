package dev.coolfusion.core.inject;

import static java.util.Objects.requireNonNull;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.spi.SourceModel;
import java.util.List;

/**
 * Guice wiring on top of {@link FusionFactory}: binds the {@link ConfiguredFusion} the factory makes from a
 * {@link FusionConfig} with the providers {@link PluginModule} binds, and its {@link CoolFusion},
 * {@link FusionOptions} and sources ({@code List<SourceModel>}, so the application can close them). Install
 * {@code new CoolFusionModule(config)}; it installs {@link PluginModule} itself.
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
    ConfiguredFusion configuredFusion(Plugins plugins, FusionConfig config) {
        return new FusionFactory(plugins).create(config);
    }

    @Provides
    @Singleton
    CoolFusion coolFusion(ConfiguredFusion configured) {
        return configured.fusion();
    }

    @Provides
    @Singleton
    List<SourceModel> sources(ConfiguredFusion configured) {
        return configured.sources();
    }
}
