package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.inject.ComponentSpec;
import dev.coolfusion.core.inject.Plugins;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.SourceModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Temperature scaling (Guo et al., 2017) of one source model: the temperature {@code T} that minimises the negative
 * log-likelihood of reference answers under {@code softmax(logits / T)}.
 *
 * <p>Cool-Fusion averages the perplexities of models that were never trained to agree on a scale; a model that is
 * over- or under-confident weighs more or less in Eq. 3 than its accuracy earns. Fitting each model's temperature on
 * a development set's reference answers (never on the test set, and without looking at any method's accuracy) puts
 * every model on its own calibrated scale. The backend applies it through its {@value #OPTION} option.
 *
 * <p>The search is a golden-section search over {@code ln T} in [{@value #LOW}, {@value #HIGH}]: the NLL of fixed
 * data is smooth and, in practice, unimodal in the temperature.
 */
public final class Calibration {
    /** The source option that carries the temperature ({@code djl} backend). */
    public static final String OPTION = "calibration-temperature";
    static final double LOW = 0.25;
    static final double HIGH = 4.0;
    private static final double GOLDEN = (Math.sqrt(5) - 1) / 2;
    private static final double LOG_TOLERANCE = 0.005;

    /**
     * One source's fit.
     *
     * @param source      the source's name
     * @param temperature the fitted temperature
     * @param rawNll      mean NLL per token of the reference answers at temperature 1 (nats)
     * @param fittedNll   the same at the fitted temperature
     * @param tokens      how many reference tokens the source scored
     * @param evaluations how many temperatures were tried
     */
    public record Fit(String source, double temperature, double rawNll, double fittedNll, long tokens, int evaluations) {}

    private final Plugins plugins;
    private final FewShot shots;
    private final WholeAnswers.Ending ending;

    public Calibration(Plugins plugins, FewShot shots, WholeAnswers.Ending ending) {
        this.plugins = requireNonNull(plugins, "plugins is null");
        this.shots = requireNonNull(shots, "shots is null");
        this.ending = requireNonNull(ending, "ending is null");
    }

    /**
     * Fits every source, {@code threads} at a time, in source order. A source that cannot be calibrated (its provider
     * has no {@value #OPTION} option) is an error naming its provider.
     */
    public List<Fit> fitAll(List<ComponentSpec> sources, List<GsmItem> items, int threads) {
        requireNonNull(sources, "sources is null");
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Fit>> futures = new ArrayList<>();
            for (ComponentSpec source : sources) {
                futures.add(pool.submit(() -> fitSource(source, items)));
            }
            List<Fit> fits = new ArrayList<>();
            for (Future<Fit> f : futures) {
                fits.add(f.get());
            }
            return fits;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new FusionException("calibration failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FusionException("calibration interrupted", e);
        } finally {
            pool.shutdownNow();
        }
    }

    private Fit fitSource(ComponentSpec source, List<GsmItem> items) {
        try {
            return fit(source, items);
        } catch (FusionException e) {
            // e.g. a provider without the option: "provider 'x' does not know option(s) [calibration-temperature]"
            throw new FusionException("calibrating a '" + source.provider() + "' source: " + e.getMessage(), e);
        }
    }

    /** Fits the temperature of the source {@code spec} describes on the reference answers of {@code items}. */
    public Fit fit(ComponentSpec spec, List<GsmItem> items) {
        requireNonNull(spec, "spec is null");
        requireNonNull(items, "items is null");
        if (items.isEmpty()) {
            throw new FusionException("calibration needs at least one item with a reference answer");
        }
        Map<Double, Nll> cache = new HashMap<>();
        java.util.function.DoubleUnaryOperator nll = logT -> cache.computeIfAbsent(logT,
                x -> measure(spec, Math.exp(x), items)).perToken();
        double raw = nll.applyAsDouble(0);
        double a = Math.log(LOW);
        double b = Math.log(HIGH);
        double c = b - GOLDEN * (b - a);
        double d = a + GOLDEN * (b - a);
        double fc = nll.applyAsDouble(c);
        double fd = nll.applyAsDouble(d);
        while (b - a > LOG_TOLERANCE) {
            if (fc <= fd) {
                b = d;
                d = c;
                fd = fc;
                c = b - GOLDEN * (b - a);
                fc = nll.applyAsDouble(c);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + GOLDEN * (b - a);
                fd = nll.applyAsDouble(d);
            }
        }
        double best = (a + b) / 2;
        double fitted = nll.applyAsDouble(best);
        if (raw <= fitted) {
            best = 0;
            fitted = raw;
        }
        Nll atOne = cache.get(0.0);
        return new Fit(atOne.source, Math.exp(best), raw, fitted, atOne.tokens, cache.size());
    }

    private record Nll(String source, double total, long tokens) {
        double perToken() {
            return total / tokens;
        }
    }

    private Nll measure(ComponentSpec spec, double temperature, List<GsmItem> items) {
        Map<String, String> options = new HashMap<>(spec.options());
        options.put(OPTION, String.format(Locale.ROOT, "%.6f", temperature));
        double total = 0;
        long tokens = 0;
        try (SourceModel model = plugins.sourceModel(ComponentSpec.of(spec.provider(), options))) {
            for (GsmItem item : items) {
                List<CandidateEvidence> evidence = Rerank.assess(shots.prompt(item.question()),
                        List.of(" " + item.workedAnswer()), List.of(model), ending);
                ModelLogProbs lp = evidence.get(0).byModel().get(0);
                total += lp.totalNll();
                tokens += lp.logProbs().size();
            }
            return new Nll(model.name(), total, tokens);
        }
    }
}
