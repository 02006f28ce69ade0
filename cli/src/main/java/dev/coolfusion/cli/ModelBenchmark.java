package dev.coolfusion.cli;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Measures a model in one run: prefill and greedy decode speed, batched versus one-by-one scoring, and native memory
 * over a long decode. Random token ids are used, so any checkpoint works.
 */
final class ModelBenchmark {
    private ModelBenchmark() {}

    /**
     * What to measure.
     *
     * @param promptTokens    prefill length
     * @param decodeTokens    greedy decode steps timed
     * @param candidates      candidates per scoring call
     * @param candidateTokens tokens per candidate
     * @param memorySteps     decode steps between the two memory readings
     * @param repeats         repetitions of the prefill and scoring timings (median reported)
     * @param warmUpPrefills  prefills of distinct prompts before the timings
     */
    public record Settings(int promptTokens, int decodeTokens, int candidates, int candidateTokens, int memorySteps,
            int repeats, int warmUpPrefills) {
        public Settings {
            if (promptTokens < 1 || decodeTokens < 1 || candidates < 1 || candidateTokens < 1 || memorySteps < 0
                    || repeats < 1 || warmUpPrefills < 0) {
                throw new IllegalArgumentException("benchmark settings must be positive");
            }
        }

        /** The settings with 20 warm-up prefills. */
        public Settings(int promptTokens, int decodeTokens, int candidates, int candidateTokens, int memorySteps,
                int repeats) {
            this(promptTokens, decodeTokens, candidates, candidateTokens, memorySteps, repeats, 20);
        }

        /** 256-token prefill, 128 decode steps, 3 candidates of 8 tokens, 500 memory steps, 7 repeats, 20 warm-ups. */
        public static Settings defaults() {
            return new Settings(256, 128, 3, 8, 500, 7);
        }
    }

    /**
     * The figures.
     *
     * @param model                  model name
     * @param prefillTokensPerSecond prompt tokens per second in {@code open}
     * @param decodeTokensPerSecond  greedy {@code nextToken} steps per second
     * @param batchedScoreMillis     one {@code score} call with all candidates
     * @param oneByOneScoreMillis    one {@code score} call per candidate, summed
     * @param batchSpeedup           one-by-one time over batched time
     * @param managedArraysBefore    NDArrays managed by the model before the memory run
     * @param managedArraysAfter     the same after {@code memorySteps} decode steps
     * @param rssKbBefore            process resident set (kB, from /proc/self/status; -1 if unavailable)
     * @param rssKbAfter             the same after the memory run
     * @param cachePrefixCopies      how often the KV cache copied a state's prefix into a new store during the memory
     *                               run (capacity growth)
     * @param cacheStoresAfter       KV stores live after the memory run
     * @param prefillEngineArrays    engine arrays one prefill of the prompt created
     * @param decodeEngineArrays     engine arrays per greedy decode step (mean over the timed steps)
     * @param sharedPrefixTokens     leading tokens that the prompts of the reuse timing share with a kept prompt
     * @param reuseOpenMillis        {@code open} of a prompt sharing them with one opened before (median)
     * @param prefixHits             the model's prefix-cache hits over the whole run
     * @param prefixMisses           its misses
     */
    public record Result(String model, Settings settings, double prefillTokensPerSecond, double decodeTokensPerSecond,
            double batchedScoreMillis, double oneByOneScoreMillis, double batchSpeedup, long managedArraysBefore,
            long managedArraysAfter, long rssKbBefore, long rssKbAfter, long cachePrefixCopies, int cacheStoresAfter,
            long prefillEngineArrays, double decodeEngineArrays, int sharedPrefixTokens, double reuseOpenMillis,
            long prefixHits, long prefixMisses) {

        /** The timed prefill's milliseconds, for comparing with {@link #reuseOpenMillis}. */
        public double prefillMillis() {
            return settings.promptTokens() / prefillTokensPerSecond * 1e3;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT,
                    "%s: prefill %d tokens %.0f tok/s | greedy decode %.1f tok/s | score %d x %d tokens: batched %.2f ms,"
                            + " one by one %.2f ms, speed-up %.2fx | managed arrays %d -> %d, RSS %d -> %d kB, KV prefix"
                            + " copies %d, KV stores %d over %d steps | engine arrays: prefill %d, decode %.1f a token"
                            + " | open sharing %d tokens %.2f ms, prefix cache %d hits %d misses",
                    model, settings.promptTokens(), prefillTokensPerSecond, decodeTokensPerSecond, settings.candidates(),
                    settings.candidateTokens(), batchedScoreMillis, oneByOneScoreMillis, batchSpeedup, managedArraysBefore,
                    managedArraysAfter, rssKbBefore, rssKbAfter, cachePrefixCopies, cacheStoresAfter,
                    settings.memorySteps(), prefillEngineArrays, decodeEngineArrays, sharedPrefixTokens,
                    reuseOpenMillis, prefixHits, prefixMisses);
        }
    }

    /** Loads the model from {@code dir} and measures it. */
    public static Result run(Path dir, DjlModelOptions options, Settings settings) {
        requireNonNull(dir, "dir is null");
        requireNonNull(options, "options is null");
        requireNonNull(settings, "settings is null");
        try (DjlSourceModel model = DjlSourceModel.load(dir, options)) {
            return run(model, settings);
        }
    }

    /** Measures a loaded model; leaves no state behind. */
    public static Result run(DjlSourceModel model, Settings settings) {
        requireNonNull(model, "model is null");
        requireNonNull(settings, "settings is null");
        int max = model.maxContextTokens().orElse(Integer.MAX_VALUE);
        int needed = settings.promptTokens() + Math.max(settings.decodeTokens(), settings.memorySteps()) + 1;
        if (needed > max) {
            throw new FusionException("benchmark needs " + needed + " tokens of context, " + model.name() + " allows " + max
                    + "; lower promptTokens or memorySteps");
        }
        SplittableRandom random = new SplittableRandom(42);
        int vocab = model.vocabularySize().getAsInt();
        List<Integer> prompt = randomTokens(random, settings.promptTokens() - 1, vocab);

        // Warm-up (JIT and allocator): prefills, a decode run and scoring calls. Each warm-up prefill gets its own
        // prompt: the prefix cache would serve a repeated one without a forward. Three prefills leave the JIT and the
        // native allocator far from their steady state (prefill and decode then measure about half their later speed).
        for (int i = 0; i < settings.warmUpPrefills(); i++) {
            model.release(List.of(model.open(randomTokens(random, settings.promptTokens() - 1, vocab))));
        }
        StateHandle warm = model.open(prompt.subList(0, Math.min(16, prompt.size())));
        decode(model, warm, Math.min(300, max - 17));
        for (int i = 0; i < 5; i++) {
            List<StateHandle> temps = new ArrayList<>();
            model.score(warm, candidates(random, settings, vocab)).forEach(s -> temps.add(s.state()));
            model.score(warm, candidates(random, settings, vocab).subList(0, 1)).forEach(s -> temps.add(s.state()));
            model.release(temps);
        }
        model.release(List.of(warm));

        // Each timed prefill gets its own prompt (they share only the first token), so the prefix cache cannot serve it.
        double[] prefill = new double[settings.repeats()];
        for (int r = 0; r < settings.repeats(); r++) {
            List<Integer> own = randomTokens(random, settings.promptTokens() - 1, vocab);
            long t0 = System.nanoTime();
            StateHandle s = model.open(own);
            prefill[r] = (System.nanoTime() - t0) / 1e9;
            model.release(List.of(s));
        }
        double prefillRate = settings.promptTokens() / median(prefill);

        StateHandle root = model.open(prompt);
        double decodeSeconds = decode(model, root, settings.decodeTokens());

        // Engine arrays per forward, counted apart from the timed runs (counting walks the model's arrays).
        model.countEngineArrays(true);
        DjlSourceModel.ForwardStats beforePrefill = model.forwardStats();
        StateHandle counted = model.open(randomTokens(random, settings.promptTokens() - 1, vocab));
        long prefillArrays = model.forwardStats().minus(beforePrefill).engineArrays();
        DjlSourceModel.ForwardStats beforeDecode = model.forwardStats();
        decode(model, counted, Math.min(32, settings.decodeTokens()));
        DjlSourceModel.ForwardStats decodeWork = model.forwardStats().minus(beforeDecode);
        model.countEngineArrays(false);
        model.release(List.of(counted));

        double[] batched = new double[settings.repeats()];
        double[] single = new double[settings.repeats()];
        for (int r = 0; r < settings.repeats(); r++) {
            List<List<Integer>> cands = candidates(random, settings, vocab);
            List<StateHandle> temps = new ArrayList<>();
            long t0 = System.nanoTime();
            model.score(root, cands).forEach(s -> temps.add(s.state()));
            long t1 = System.nanoTime();
            for (List<Integer> c : cands) {
                model.score(root, List.of(c)).forEach(s -> temps.add(s.state()));
            }
            long t2 = System.nanoTime();
            model.release(temps);
            batched[r] = (t1 - t0) / 1e6;
            single[r] = (t2 - t1) / 1e6;
        }
        double batchedMs = median(batched);
        double singleMs = median(single);

        long arraysBefore = model.managedArrays();
        long rssBefore = rssKb();
        DjlSourceModel.CacheStats cacheBefore = model.cacheStats();
        decode(model, root, settings.memorySteps());
        long arraysAfter = model.managedArrays();
        long rssAfter = rssKb();
        DjlSourceModel.CacheStats cacheAfter = model.cacheStats();
        model.release(List.of(root));
        // A prompt that starts with a kept one (three quarters of it, e.g. few-shot exemplars): only the rest is
        // computed when the prefix cache is on.
        int sharedTokens = settings.promptTokens() * 3 / 4;
        double[] reuse = new double[settings.repeats()];
        for (int r = 0; r < settings.repeats(); r++) {
            List<Integer> next = new ArrayList<>(prompt.subList(0, sharedTokens));
            next.addAll(randomTokens(random, settings.promptTokens() - sharedTokens, vocab).subList(1,
                    settings.promptTokens() - sharedTokens + 1));
            long t0 = System.nanoTime();
            StateHandle s = model.open(next);
            reuse[r] = (System.nanoTime() - t0) / 1e9;
            model.release(List.of(s));
        }
        double reuseMillis = median(reuse) * 1e3;
        DjlSourceModel.PrefixCacheStats prefixStats = model.prefixCacheStats();
        return new Result(model.name(), settings, prefillRate, settings.decodeTokens() / decodeSeconds, batchedMs, singleMs,
                singleMs / batchedMs, arraysBefore, arraysAfter, rssBefore, rssAfter,
                cacheAfter.prefixCopies() - cacheBefore.prefixCopies(), cacheAfter.stores(), prefillArrays,
                (double) decodeWork.engineArrays() / decodeWork.forwards(), sharedTokens, reuseMillis,
                prefixStats.hits(), prefixStats.misses());
    }

    /**
     * Greedy decode by several generations at once on one model.
     *
     * @param generations   generations decoding at once, each on its own thread from its own prompt
     * @param tokensPerSecond all generations' tokens over the wall time
     * @param callsPerForward nextToken calls per forward the engine ran (1: none ran together)
     */
    public record ConcurrentDecode(int generations, double tokensPerSecond, double callsPerForward) {}

    /**
     * Greedy decode on {@code levels} generations at once (each its own prompt of about half the settings' prompt,
     * {@code settings.decodeTokens()} tokens each), the median of {@code settings.repeats()} rounds per level,
     * levels interleaved; on the model from {@code dir}, loaded once.
     */
    public static List<ConcurrentDecode> concurrentDecode(Path dir, DjlModelOptions options, Settings settings,
            List<Integer> levels) {
        requireNonNull(dir, "dir is null");
        requireNonNull(levels, "levels is null");
        try (DjlSourceModel model = DjlSourceModel.load(dir, options)) {
            SplittableRandom random = new SplittableRandom(7);
            int vocab = model.vocabularySize().getAsInt();
            int longest = levels.stream().mapToInt(Integer::intValue).max().orElse(1);
            List<List<Integer>> prompts = new ArrayList<>();
            for (int g = 0; g < longest; g++) {
                prompts.add(randomTokens(random, settings.promptTokens() / 2 + g, vocab));
            }
            List<StateHandle> roots = prompts.stream().map(model::open).toList();
            ExecutorService threads = Executors.newFixedThreadPool(longest);
            try {
                decodeAll(model, roots.subList(0, 1), Math.min(32, settings.decodeTokens()), threads); // warm-up
                decodeAll(model, roots, Math.min(32, settings.decodeTokens()), threads);
                double[][] rates = new double[levels.size()][settings.repeats()];
                double[][] perForward = new double[levels.size()][settings.repeats()];
                for (int r = 0; r < settings.repeats(); r++) {
                    for (int i = 0; i < levels.size(); i++) {
                        int n = levels.get(i);
                        DjlSourceModel.ForwardStats before = model.forwardStats();
                        double seconds = decodeAll(model, roots.subList(0, n), settings.decodeTokens(), threads);
                        long forwards = model.forwardStats().minus(before).forwards();
                        rates[i][r] = (double) n * settings.decodeTokens() / seconds;
                        perForward[i][r] = (double) n * settings.decodeTokens() / Math.max(1, forwards);
                    }
                }
                List<ConcurrentDecode> out = new ArrayList<>();
                for (int i = 0; i < levels.size(); i++) {
                    out.add(new ConcurrentDecode(levels.get(i), median(rates[i]), median(perForward[i])));
                }
                return out;
            } finally {
                threads.shutdownNow();
                model.release(roots);
            }
        }
    }

    /** Greedy decode of {@code steps} tokens from each root at once, one thread each; the wall time in seconds. */
    private static double decodeAll(DjlSourceModel model, List<StateHandle> roots, int steps, ExecutorService threads) {
        long t0 = System.nanoTime();
        List<Future<Double>> running = new ArrayList<>();
        for (StateHandle root : roots) {
            running.add(threads.submit(() -> decode(model, root, steps)));
        }
        try {
            for (Future<Double> f : running) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FusionException("interrupted while decoding concurrently", e);
        } catch (ExecutionException e) {
            throw new FusionException("a concurrent decode failed: " + e.getCause().getMessage(), e.getCause());
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    /** Greedy decode of {@code steps} tokens from {@code from}, committing each step and releasing the previous one. */
    private static double decode(DjlSourceModel model, StateHandle from, int steps) {
        long t0 = System.nanoTime();
        StateHandle current = from;
        for (int i = 0; i < steps; i++) {
            TokenStep step = model.nextToken(current, Decoding.GREEDY);
            model.commit(step.state());
            if (current != from) {
                model.release(List.of(current));
            }
            current = step.state();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (current != from) {
            model.release(List.of(current));
        }
        return seconds;
    }

    private static List<List<Integer>> candidates(SplittableRandom random, Settings settings, int vocab) {
        List<List<Integer>> out = new ArrayList<>();
        for (int i = 0; i < settings.candidates(); i++) {
            out.add(randomTokens(random, settings.candidateTokens(), vocab).subList(1, settings.candidateTokens() + 1));
        }
        return out;
    }

    /** A begin-of-sequence id (1) followed by {@code n} random ids: {@code n + 1} tokens. */
    private static List<Integer> randomTokens(SplittableRandom random, int n, int vocab) {
        List<Integer> ids = new ArrayList<>(n + 1);
        ids.add(Math.min(1, vocab - 1));
        while (ids.size() < n + 1) {
            ids.add(vocab > 3 ? 3 + random.nextInt(vocab - 3) : random.nextInt(vocab));
        }
        return ids;
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v[v.length / 2];
    }

    /** Resident set size in kB from /proc/self/status, or -1 where that file does not exist. */
    public static long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
