package dev.coolfusion.core.inject;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import com.google.inject.multibindings.MapBinder;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.spi.Provider;
import dev.coolfusion.spi.RerankMetricProvider;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.TextCodecProvider;
import java.util.Map;

/**
 * Binds every provider found through {@link java.util.ServiceLoader} ({@link Plugins#load}) into a {@link MapBinder}
 * keyed by provider name, and the {@link Plugins} registry over those maps. Other modules add their own providers
 * with {@code MapBinder.newMapBinder(binder(), String.class, RerankMetricProvider.class).addBinding("my-metric")
 * .to(MyMetricProvider.class)}.
 */
public final class PluginModule extends AbstractModule {
    @Override
    protected void configure() {
        bindAll(SourceModelProvider.class);
        bindAll(TextCodecProvider.class);
        bindAll(RerankMetricProvider.class);
    }

    private <P extends Provider<?>> void bindAll(Class<P> type) {
        MapBinder<String, P> binder = MapBinder.newMapBinder(binder(), String.class, type);
        Plugins.load(type).forEach((name, provider) -> binder.addBinding(name).toInstance(provider));
    }

    @Provides
    @Singleton
    Plugins plugins(Map<String, SourceModelProvider> models, Map<String, TextCodecProvider> codecs,
            Map<String, RerankMetricProvider> metrics) {
        return new Plugins(models, codecs, metrics);
    }
}
