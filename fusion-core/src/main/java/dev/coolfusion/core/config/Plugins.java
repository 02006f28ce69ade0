package dev.coolfusion.core.config;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.Provider;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.RerankMetricProvider;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TextCodecProvider;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * The provider registry: every registered provider by name (those found through {@link ServiceLoader}, plus any a
 * caller adds, such as the Guice module's bindings). Creates components from {@link ComponentSpec}s with precise
 * errors for unknown names.
 */
public final class Plugins {
    /** Where the project's own providers live, so that a missing one can be named with the artifact to add. */
    private static final Map<String, String> ARTIFACTS = Map.of(
            "djl", "dev.coolfusion:backend-djl",
            "remote", "dev.coolfusion:backend-remote",
            "vllm", "dev.coolfusion:backend-inference",
            "sglang", "dev.coolfusion:backend-inference",
            "ollama", "dev.coolfusion:backend-inference",
            "llama-cpp", "dev.coolfusion:backend-inference",
            "hf-tokenizer", "dev.coolfusion:tokenizers-hf");

    private final Map<String, SourceModelProvider> models;
    private final Map<String, TextCodecProvider> codecs;
    private final Map<String, RerankMetricProvider> metrics;

    public Plugins(Map<String, SourceModelProvider> models, Map<String, TextCodecProvider> codecs,
            Map<String, RerankMetricProvider> metrics) {
        this.models = new TreeMap<>(requireNonNull(models, "models is null"));
        this.codecs = new TreeMap<>(requireNonNull(codecs, "codecs is null"));
        this.metrics = new TreeMap<>(requireNonNull(metrics, "metrics is null"));
    }

    /** The providers on the class path, found through {@link ServiceLoader}. */
    public static Plugins discover() {
        return new Plugins(load(SourceModelProvider.class), load(TextCodecProvider.class), load(RerankMetricProvider.class));
    }

    /** Loads the providers of one type; two with the same name are an error that names both classes. */
    public static <P extends Provider<?>> Map<String, P> load(Class<P> type) {
        Map<String, P> out = new LinkedHashMap<>();
        for (P provider : ServiceLoader.load(type, Plugins.class.getClassLoader())) {
            P previous = out.putIfAbsent(provider.name(), provider);
            if (previous != null) {
                throw new FusionException("two " + type.getSimpleName() + "s are named '" + provider.name() + "': "
                        + previous.getClass().getName() + " and " + provider.getClass().getName()
                        + "; remove one jar from the class path");
            }
        }
        return out;
    }

    public SourceModel sourceModel(ComponentSpec spec) {
        return create("model backend", models, spec);
    }

    /**
     * Creates every source of a config, all or nothing: if one fails, those already created are closed before the
     * error propagates. The caller owns (and closes) the returned models.
     */
    public List<SourceModel> sourceModels(List<ComponentSpec> specs) {
        requireNonNull(specs, "specs is null");
        List<SourceModel> out = new ArrayList<>();
        try {
            for (ComponentSpec spec : specs) {
                out.add(sourceModel(spec));
            }
        } catch (RuntimeException e) {
            FusionFactory.closeAll(out, e);
            throw e;
        }
        return List.copyOf(out);
    }

    public TextCodec codec(ComponentSpec spec) {
        return create("tokenizer", codecs, spec);
    }

    public RerankMetric metric(ComponentSpec spec) {
        return create("metric", metrics, spec);
    }

    public Map<String, SourceModelProvider> modelProviders() {
        return models;
    }

    public Map<String, TextCodecProvider> codecProviders() {
        return codecs;
    }

    public Map<String, RerankMetricProvider> metricProviders() {
        return metrics;
    }

    /** The artifact that holds one of the project's own providers, if {@code provider} is one. */
    public static java.util.Optional<String> artifactOf(String provider) {
        return java.util.Optional.ofNullable(ARTIFACTS.get(requireNonNull(provider, "provider is null")));
    }

    /**
     * Creates a component. Every failure is a {@link FusionException}: an unknown name says what is available (and,
     * for one of the project's providers, which artifact to add); a provider's own error other than a
     * FusionException is wrapped with the provider's name.
     */
    private static <T> T create(String kind, Map<String, ? extends Provider<T>> providers, ComponentSpec spec) {
        requireNonNull(spec, "spec is null");
        Provider<T> provider = providers.get(spec.provider());
        if (provider == null) {
            String missing = artifactOf(spec.provider()).map(artifact -> " The '" + spec.provider() + "' " + kind
                    + " is in " + artifact + ": add that artifact to your dependencies (runtime scope is enough).")
                    .orElse(" A provider is found when its jar is on the class path and lists it in META-INF/services.");
            throw new FusionException("unknown " + kind + " '" + spec.provider() + "'; available: "
                    + providers.keySet() + "." + missing);
        }
        try {
            return provider.create(ProviderConfig.of(spec.provider(), spec.options()));
        } catch (FusionException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new FusionException(kind + " provider '" + spec.provider() + "' failed: "
                    + (e.getMessage() == null ? e.toString() : e.getMessage()), e);
        }
    }
}
