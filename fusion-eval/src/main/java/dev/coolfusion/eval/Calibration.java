package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
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
 * <p>When the backend answers many temperatures from one forward pass ({@link SourceModel#nllAtTemperatures}, e.g.
 * {@code djl}), the reference answers go through the model twice: a grid of {@value #GRID} temperatures evenly spaced
 * in {@code ln T} over [{@value #LOW}, {@value #HIGH}], then as fine a grid between the coarse best's neighbours
 * (spacing about 0.005 in {@code ln T}). Otherwise it is a golden-section search over {@code ln T} on the same
 * interval, loading the model once per temperature tried: the NLL of fixed data is smooth and, in practice, unimodal
 * in the temperature.
 */
public final class Calibration {
    /** The source option that carries the temperature ({@code djl} backend). */
    public static final String OPTION = "calibration-temperature";
    static final double LOW = 0.25;
    static final double HIGH = 4.0;
    private static final double GOLDEN = (Math.sqrt(5) - 1) / 2;
    private static final double LOG_TOLERANCE = 0.005;
    static final int GRID = 33;

    /**
     * One source's fit.
     *
     * @param source      the source's name
     * @param temperature the fitted temperature
     * @param rawNll      mean NLL per token of the reference answers at temperature 1 (nats)
     * @param fittedNll   the same at the fitted temperature
     * @param tokens      how many reference tokens the source scored
     * @param evaluations how many temperatures were tried
     * @param passes      how many times the reference answers went through the model
     */
    public record Fit(String source, double temperature, double rawNll, double fittedNll, long tokens, int evaluations,
            int passes) {}

    private final Plugins plugins;
    private final FewShot shots;
    private final WholeAnswers.Ending ending;
    private final boolean scan;

    public Calibration(Plugins plugins, FewShot shots, WholeAnswers.Ending ending) {
        this(plugins, shots, ending, true);
    }

    private Calibration(Plugins plugins, FewShot shots, WholeAnswers.Ending ending, boolean scan) {
        this.plugins = requireNonNull(plugins, "plugins is null");
        this.shots = requireNonNull(shots, "shots is null");
        this.ending = requireNonNull(ending, "ending is null");
        this.scan = scan;
    }

    /** The same calibration with the golden-section search even where the backend could scan (tests). */
    Calibration searchOnly() {
        return new Calibration(plugins, shots, ending, false);
    }

    /** Fits every source, one thread per source but at most one per CPU; see {@link #fitAll(List, List, int)}. */
    public List<Fit> fitAll(List<ComponentSpec> sources, List<GsmItem> items) {
        requireNonNull(sources, "sources is null");
        return fitAll(sources, items, Math.max(1, Math.min(sources.size(), Runtime.getRuntime().availableProcessors())));
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
        if (scan) {
            Optional<Fit> scanned = scan(spec, items);
            if (scanned.isPresent()) {
                return scanned.get();
            }
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
        return new Fit(atOne.source, Math.exp(best), raw, fitted, atOne.tokens, cache.size(), cache.size());
    }

    /** Two passes over the data with {@link SourceModel#nllAtTemperatures}; empty when the backend cannot. */
    private Optional<Fit> scan(ComponentSpec spec, List<GsmItem> items) {
        try (SourceModel model = plugins.sourceModel(withTemperature(spec, 1))) {
            double step = (Math.log(HIGH) - Math.log(LOW)) / (GRID - 1);
            double[] coarse = new double[GRID + 1];
            for (int i = 0; i < GRID; i++) {
                coarse[i] = Math.log(LOW) + i * step;
            }
            coarse[GRID] = 0; // T = 1 exactly: the raw NLL
            List<Reference> data = new ArrayList<>();
            for (GsmItem item : items) {
                data.add(new Reference(model.codec().encodePrompt(shots.prompt(item.question())),
                        WholeAnswers.tokens(model.codec(), " " + item.workedAnswer(), ending)));
            }
            Optional<Nll[]> first = pass(model, data, coarse);
            if (first.isEmpty()) {
                return Optional.empty();
            }
            int best = argmin(first.get(), GRID);
            double from = Math.max(Math.log(LOW), coarse[best] - step);
            double to = Math.min(Math.log(HIGH), coarse[best] + step);
            double[] fine = new double[GRID];
            for (int i = 0; i < GRID; i++) {
                fine[i] = from + i * (to - from) / (GRID - 1);
            }
            Nll[] second = pass(model, data, fine).orElseThrow();
            int bestFine = argmin(second, GRID);
            double raw = first.get()[GRID].perToken();
            double fitted = second[bestFine].perToken();
            double logT = fine[bestFine];
            if (raw <= fitted) {
                logT = 0;
                fitted = raw;
            }
            return Optional.of(new Fit(model.name(), Math.exp(logT), raw, fitted, second[0].tokens,
                    coarse.length + fine.length, 2));
        }
    }

    private static int argmin(Nll[] values, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (values[i].total < values[best].total) {
                best = i;
            }
        }
        return best;
    }

    /** One item in a model's tokens: its few-shot prompt and its reference answer with the ending. */
    private record Reference(List<Integer> prompt, List<Integer> answer) {}

    /** The reference answers' NLL at every {@code exp(logTs[i])}, one forward per answer. */
    private Optional<Nll[]> pass(SourceModel model, List<Reference> data, double[] logTs) {
        double[] temperatures = new double[logTs.length];
        for (int i = 0; i < logTs.length; i++) {
            temperatures[i] = Math.exp(logTs[i]);
        }
        double[] total = new double[logTs.length];
        long tokens = 0;
        for (Reference item : data) {
            StateHandle prompt = model.open(item.prompt());
            try {
                Optional<double[]> nll = model.nllAtTemperatures(prompt, item.answer(), temperatures);
                if (nll.isEmpty()) {
                    return Optional.empty();
                }
                for (int i = 0; i < total.length; i++) {
                    total[i] += nll.get()[i];
                }
            } finally {
                model.release(List.of(prompt));
            }
            tokens += item.answer().size();
        }
        Nll[] out = new Nll[logTs.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = new Nll(model.name(), total[i], tokens);
        }
        return Optional.of(out);
    }

    private static ComponentSpec withTemperature(ComponentSpec spec, double temperature) {
        Map<String, String> options = new HashMap<>(spec.options());
        options.put(OPTION, String.format(Locale.ROOT, "%.6f", temperature));
        return ComponentSpec.of(spec.provider(), options);
    }

    private record Nll(String source, double total, long tokens) {
        double perToken() {
            return total / tokens;
        }
    }

    private Nll measure(ComponentSpec spec, double temperature, List<GsmItem> items) {
        double total = 0;
        long tokens = 0;
        try (SourceModel model = plugins.sourceModel(withTemperature(spec, temperature))) {
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
