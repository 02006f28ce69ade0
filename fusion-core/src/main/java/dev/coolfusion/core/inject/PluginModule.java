package dev.coolfusion.core.inject;

import com.google.inject.AbstractModule;
import com.google.inject.multibindings.MapBinder;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.Provider;
import dev.coolfusion.spi.RerankMetricProvider;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.TextCodecProvider;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * Binds every provider found through {@link ServiceLoader} into a {@link MapBinder} keyed by provider name. Other
 * modules add their own providers with {@code MapBinder.newMapBinder(binder(), String.class,
 * RerankMetricProvider.class).addBinding("my-metric").to(MyMetricProvider.class)}.
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
        load(type).forEach((name, provider) -> binder.addBinding(name).toInstance(provider));
    }

    /** Loads the providers of one type; two with the same name are an error that names both classes. */
    static <P extends Provider<?>> Map<String, P> load(Class<P> type) {
        Map<String, P> out = new LinkedHashMap<>();
        for (P provider : ServiceLoader.load(type, PluginModule.class.getClassLoader())) {
            P previous = out.putIfAbsent(provider.name(), provider);
            if (previous != null) {
                throw new FusionException("two " + type.getSimpleName() + "s are named '" + provider.name() + "': "
                        + previous.getClass().getName() + " and " + provider.getClass().getName()
                        + "; remove one jar from the class path");
            }
        }
        return out;
    }
}
