package dev.coolfusion.core.inject;

import static java.util.Objects.requireNonNull;

import com.google.inject.AbstractModule;
import com.google.inject.ConfigurationException;
import com.google.inject.CreationException;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.Provides;
import com.google.inject.ProvisionException;
import com.google.inject.Singleton;
import com.google.inject.spi.Message;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.SourceModel;
import java.util.Collection;
import java.util.List;

/**
 * Guice wiring on top of {@link FusionFactory}: binds the {@link ConfiguredFusion} the factory makes from a
 * {@link FusionConfig} with the providers {@link PluginModule} binds, and its {@link CoolFusion},
 * {@link FusionOptions} and sources ({@code List<SourceModel>}, so the application can close them). Install
 * {@code new CoolFusionModule(config)}; it installs {@link PluginModule} itself.
 *
 * <p>Guice reports a fusion that cannot be made (an unknown provider, a bad option, a model folder that does not
 * load) as a {@link ProvisionException} around the factory's {@link FusionException}; {@link #getInstance} and
 * {@link #unwrap} give the FusionException itself.
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

    /**
     * {@code injector.getInstance(type)}, except that a failure to make the fusion (or anything else) that a
     * {@link FusionException} caused is thrown as that FusionException.
     */
    public static <T> T getInstance(Injector injector, Class<T> type) {
        return getInstance(injector, Key.get(requireNonNull(type, "type is null")));
    }

    /** {@link #getInstance(Injector, Class)} for a key (e.g. {@code new Key<List<SourceModel>>() {}}). */
    public static <T> T getInstance(Injector injector, Key<T> key) {
        requireNonNull(injector, "injector is null");
        try {
            return injector.getInstance(requireNonNull(key, "key is null"));
        } catch (ProvisionException | ConfigurationException e) {
            throw unwrap(e);
        }
    }

    /**
     * The {@link FusionException} behind a Guice {@link ProvisionException}, {@link CreationException} or
     * {@link ConfigurationException} (the first one among its errors' causes), else {@code e} itself.
     */
    public static RuntimeException unwrap(RuntimeException e) {
        requireNonNull(e, "e is null");
        Collection<Message> messages = e instanceof ProvisionException p ? p.getErrorMessages()
                : e instanceof CreationException creation ? creation.getErrorMessages()
                : e instanceof ConfigurationException configuration ? configuration.getErrorMessages() : List.of();
        for (Message message : messages) {
            for (Throwable t = message.getCause(); t != null; t = t.getCause()) {
                if (t instanceof FusionException fusion) {
                    return fusion;
                }
            }
        }
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            if (t instanceof FusionException fusion) {
                return fusion;
            }
        }
        return e;
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
