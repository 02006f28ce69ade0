package dev.coolfusion.langchain4j;

import static java.util.Objects.requireNonNull;

import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.inject.CoolFusionModule;
import dev.coolfusion.core.inject.FusionConfig;
import dev.coolfusion.core.inject.FusionConfigLoader;
import dev.coolfusion.spi.SourceModel;
import java.nio.file.Path;
import java.util.List;

/**
 * The fused models behind the LangChain4j adapters: a {@link CoolFusion} with its default {@link FusionOptions}.
 * Made three ways: from the YAML config that {@code cool-fusion eval} reads ({@link #fromConfig}), from source
 * models or a fusion ({@link #of}), or from a Guice injector with {@link CoolFusionModule} ({@link #fromInjector}).
 *
 * <p>{@link #close()} closes the source models only when this backend created them ({@link #fromConfig});
 * otherwise they belong to the caller.
 */
public final class FusionBackend implements AutoCloseable {
    private final CoolFusion fusion;
    private final FusionOptions defaults;
    private final List<SourceModel> owned;

    private FusionBackend(CoolFusion fusion, FusionOptions defaults, List<SourceModel> owned) {
        this.fusion = requireNonNull(fusion, "fusion is null");
        this.defaults = requireNonNull(defaults, "defaults is null");
        this.owned = List.copyOf(owned);
    }

    /** A backend over a fusion the caller owns. */
    public static FusionBackend of(CoolFusion fusion, FusionOptions defaults) {
        return new FusionBackend(fusion, defaults, List.of());
    }

    /** A backend fusing the given source models (owned by the caller) with the default metric and options. */
    public static FusionBackend of(List<? extends SourceModel> sources) {
        requireNonNull(sources, "sources is null");
        return new FusionBackend(CoolFusion.builder().sources(sources).build(), FusionOptions.defaults(), List.of());
    }

    /** Loads sources, metric and options from a fusion YAML config; {@link #close()} closes the sources. */
    public static FusionBackend fromConfig(Path yaml) {
        requireNonNull(yaml, "yaml is null");
        return fromConfig(FusionConfigLoader.load(yaml));
    }

    /** Creates sources, metric and options from a config; {@link #close()} closes the sources. */
    public static FusionBackend fromConfig(FusionConfig config) {
        requireNonNull(config, "config is null");
        Injector injector = Guice.createInjector(new CoolFusionModule(config));
        List<SourceModel> sources = injector.getInstance(Key.get(new TypeLiteral<List<SourceModel>>() {}));
        try {
            return new FusionBackend(injector.getInstance(CoolFusion.class), config.options(), sources);
        } catch (RuntimeException e) {
            sources.forEach(SourceModel::close);
            throw e;
        }
    }

    /** Takes the fusion and options bound by {@link CoolFusionModule}; the injector's owner closes the sources. */
    public static FusionBackend fromInjector(Injector injector) {
        requireNonNull(injector, "injector is null");
        return new FusionBackend(injector.getInstance(CoolFusion.class), injector.getInstance(FusionOptions.class), List.of());
    }

    public CoolFusion fusion() {
        return fusion;
    }

    /** Generation options used where a request does not set a parameter. */
    public FusionOptions defaults() {
        return defaults;
    }

    /** The default model name: the source names joined by {@code +}. */
    public String defaultModelName() {
        return "cool-fusion(" + String.join("+", fusion.sources().stream().map(SourceModel::name).toList()) + ")";
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        for (SourceModel source : owned) {
            try {
                source.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
