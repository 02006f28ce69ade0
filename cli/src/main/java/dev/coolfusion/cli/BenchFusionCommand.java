package dev.coolfusion.cli;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.SourceModel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.stream.IntStream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Measures the fused model against its single sources and each optimisation of the loop against none, in one run
 * over the same few-shot prompts, printing ratios measured within that run (issue 16).
 */
@Command(name = "bench-fusion", description = "Fuse the first N held-out few-shot prompts and print, in one run: each"
        + " single model's greedy words/s and tokens/s, the fusion's, its ratio to the slowest and fastest single, the"
        + " fusion with each optimisation switched off (look-ahead reuse, the proposer's own log-probs in M3, batched"
        + " M3, parallel sources) and all off, each checked for identical outputs, model and tokenizer calls per step,"
        + " the tokenizer's share of step time, peak resident memory, and throughput with concurrent generations.")
final class BenchFusionCommand implements Callable<Integer> {
    /** Measured passes per single model and per variant; each figure is the median one. */
    private static final int ROUNDS = 3;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", defaultValue = "models/fusion.yaml", description = "Fusion config (default: ${DEFAULT-VALUE}).")
    Path config;

    @Option(names = "--data", defaultValue = "models/heldout.jsonl", description = "Questions, GSM8K format (default: ${DEFAULT-VALUE}).")
    Path data;

    @Option(names = "--items", defaultValue = "10", description = "Questions to fuse per measurement (default: ${DEFAULT-VALUE}).")
    int items;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,4,8", description = "Concurrent fused generations"
            + " to measure, sharing the same sources (default: ${DEFAULT-VALUE}).")
    List<Integer> concurrency;

    /** One measured pass over the prompts. */
    private record Pass(List<String> texts, long nanos, long words, long tokens, long steps, Instruments.Counts counts) {
        double wordsPerSecond() {
            return words / (nanos / 1e9);
        }

        double tokensPerSecond() {
            return tokens / (nanos / 1e9);
        }

        double perStep(long n) {
            return (double) n / Math.max(1, steps);
        }
    }

    @Override
    public Integer call() {
        if (items < 1) {
            throw new FusionException("--items must be at least 1, got " + items);
        }
        for (int c : concurrency) {
            if (c < 1) {
                throw new FusionException("--concurrency: every level must be at least 1, got " + c);
            }
        }
        DjlThreads.configure();
        List<GsmItem> questions = GsmData.read(data);
        if (questions.isEmpty()) {
            throw new FusionException(data + " has no items");
        }
        FewShot shots = GsmDataOptions.builtInShots(3);
        List<String> prompts = questions.subList(0, Math.min(items, questions.size())).stream()
                .map(q -> shots.prompt(q.question())).toList();
        PrintWriter out = spec.commandLine().getOut();
        try (ConfiguredFusion setup = FusionFactory.discover().create(config)) {
            Instruments instruments = new Instruments();
            List<SourceModel> sources = setup.sources().stream().map(instruments::instrument).toList();
            FusionOptions options = setup.options();
            // Every measured pass gets a fusion of its own: a fusion remembers its tokenizers' answers across its
            // generations, and a pass must not find in that memo the texts of an earlier pass over the same prompts.
            Supplier<CoolFusion> fused = () -> CoolFusion.builder().sources(sources).metric(setup.metric()).build();
            // One warm-up generation per way of running (class loading, JIT, the engine's first forwards).
            fused.get().generate(prompts.get(0), options);
            out.printf(Locale.ROOT, "bench-fusion: %d items of %s (3-shot, greedy), sources %s, metric %s%n",
                    prompts.size(), data, setup.sourceNames(), setup.metric().name());

            out.println("single models, alone:");
            double slowest = Double.POSITIVE_INFINITY;
            double fastest = 0;
            for (SourceModel source : sources) {
                Supplier<CoolFusion> alone = () -> CoolFusion.builder().addSource(source).metric(setup.metric())
                        .build();
                alone.get().generate(prompts.get(0), options);
                Pass p = median(IntStream.range(0, ROUNDS).mapToObj(r -> pass(alone, options, prompts, instruments))
                        .toList());
                out.printf(Locale.ROOT, "  %-12s %8.1f words/s %9.1f tokens/s  (%d words, %.2f s)%n", source.name(),
                        p.wordsPerSecond(), p.tokensPerSecond(), p.words(), p.nanos() / 1e9);
                slowest = Math.min(slowest, p.wordsPerSecond());
                fastest = Math.max(fastest, p.wordsPerSecond());
            }

            List<String> variants = List.of("all on", "no look-ahead reuse", "no proposer log-probs in M3",
                    "no batched M3", "sequential sources", "all off");
            // Rounds over all variants, interleaved, so that a variant measured early is not slowed by what is still
            // warming up (JIT, allocator, the prefix cache); each row is its median round.
            Supplier<CoolFusion> sequentialFusion = () -> CoolFusion.builder().sources(sources).metric(setup.metric())
                    .executor(Runnable::run).build();
            List<List<Pass>> rounds = new ArrayList<>();
            variants.forEach(v -> rounds.add(new ArrayList<>()));
            for (int r = 0; r < ROUNDS; r++) {
                for (int i = 0; i < variants.size(); i++) {
                    String variant = variants.get(i);
                    boolean sequential = variant.equals("sequential sources") || variant.equals("all off");
                    Supplier<CoolFusion> fusion = sequential ? sequentialFusion : fused;
                    FusionOptions o = variant(options, variant);
                    if (r == 0) {
                        fusion.get().generate(prompts.get(0), o);
                    }
                    rounds.get(i).add(pass(fusion, o, prompts, instruments));
                }
            }
            List<Pass> passes = rounds.stream().map(BenchFusionCommand::median).toList();
            Pass on = passes.get(0);
            out.printf(Locale.ROOT, "fused %s: %.1f words/s, %.1f tokens/s (%s's tokens), %.2fx the slowest single,"
                    + " %.2fx the fastest%n", String.join("+", setup.sourceNames()), on.wordsPerSecond(),
                    on.tokensPerSecond(), setup.sourceNames().get(0), on.wordsPerSecond() / slowest,
                    on.wordsPerSecond() / fastest);
            out.println("optimisations (each switched off alone, then all off):");
            out.printf(Locale.ROOT, "  %-28s %9s %10s %14s %18s %16s %14s  %s%n", "", "words/s", "vs all on",
                    "model calls/step", "tokenizer calls/step", "tokenizer share", "of calls", "identical");
            int different = 0;
            for (int i = 0; i < variants.size(); i++) {
                Pass p = passes.get(i);
                int variant = i;
                boolean same = rounds.get(variant).stream().allMatch(x -> x.texts().equals(on.texts()));
                different += same ? 0 : 1;
                out.printf(Locale.ROOT, "  %-28s %9.1f %9.2fx %14.1f %18.1f %15.1f%% %13.1f%%  identical: %s%n",
                        variants.get(i), p.wordsPerSecond(), p.wordsPerSecond() / on.wordsPerSecond(),
                        p.perStep(p.counts().modelCalls()), p.perStep(p.counts().tokenizerCalls()),
                        100.0 * p.counts().tokenizerNanos() / p.nanos(), 100.0 * p.counts().tokenizerShareOfCalls(),
                        same ? "yes" : "no");
            }
            out.println("  (tokenizer share: time in tokenizer calls over the pass's wall time; with parallel sources"
                    + " it is summed over their threads and overstates the share, so only the sequential rows are the"
                    + " step-time share. of calls: tokenizer time over tokenizer plus model-call time, both summed over"
                    + " threads, comparable in every row)");

            out.println("concurrent fused generations (threads sharing the same sources; median of " + ROUNDS
                    + " interleaved rounds):");
            List<DjlSourceModel> local = setup.sources().stream().filter(DjlSourceModel.class::isInstance)
                    .map(DjlSourceModel.class::cast).toList();
            List<List<Pass>> levelRounds = new ArrayList<>();
            List<List<Long>> levelForwards = new ArrayList<>();
            concurrency.forEach(c -> {
                levelRounds.add(new ArrayList<>());
                levelForwards.add(new ArrayList<>());
            });
            for (int r = 0; r < ROUNDS; r++) {
                for (int i = 0; i < concurrency.size(); i++) {
                    long forwardsBefore = forwards(local);
                    levelRounds.get(i).add(concurrent(fused.get(), options, prompts, instruments, concurrency.get(i)));
                    levelForwards.get(i).add(forwards(local) - forwardsBefore);
                }
            }
            Pass base = null;
            for (int i = 0; i < concurrency.size(); i++) {
                int c = concurrency.get(i);
                Pass p = median(levelRounds.get(i));
                long forwards = levelForwards.get(i).get(levelRounds.get(i).indexOf(p));
                if (base == null) {
                    base = c == 1 ? p : pass(fused, options, prompts, instruments);
                }
                boolean same = levelRounds.get(i).stream().allMatch(x -> x.texts().equals(on.texts()));
                different += same ? 0 : 1;
                String batching = local.isEmpty() ? ""
                        : String.format(Locale.ROOT, ", %.2f model calls per forward", (double) p.counts().modelCalls()
                                / Math.max(1, forwards));
                out.printf(Locale.ROOT, "  %2d at a time: %8.1f words/s, %.2fx one at a time%s  identical: %s%n", c,
                        p.wordsPerSecond(), p.wordsPerSecond() / base.wordsPerSecond(), batching, same ? "yes" : "no");
            }
            out.println("peak resident memory (VmHWM): " + peakResidentMemory());
            out.flush();
            return different == 0 ? 0 : 1;
        }
    }

    /** Forwards the local models ran so far. */
    private static long forwards(List<DjlSourceModel> models) {
        return models.stream().mapToLong(m -> m.forwardStats().forwards()).sum();
    }

    /** The pass with the median words per second. */
    private static Pass median(List<Pass> passes) {
        List<Pass> sorted = new ArrayList<>(passes);
        sorted.sort(Comparator.comparingDouble(Pass::wordsPerSecond));
        return sorted.get(sorted.size() / 2);
    }

    private static FusionOptions variant(FusionOptions options, String variant) {
        FusionOptions.Builder b = options.toBuilder();
        switch (variant) {
            case "no look-ahead reuse" -> b.reuseLookahead(false);
            case "no proposer log-probs in M3" -> b.reuseProposerLogProbs(false);
            case "no batched M3" -> b.batchScoring(false);
            case "all off" -> b.reuseLookahead(false).reuseProposerLogProbs(false).batchScoring(false);
            default -> { }
        }
        return b.build();
    }

    /** Fuses every prompt one after the other, with a new fusion. */
    private static Pass pass(Supplier<CoolFusion> fusions, FusionOptions options, List<String> prompts,
            Instruments instruments) {
        CoolFusion fusion = fusions.get();
        Instruments.Counts before = instruments.counts();
        List<String> texts = new ArrayList<>();
        long words = 0;
        long tokens = 0;
        long steps = 0;
        long t0 = System.nanoTime();
        for (String prompt : prompts) {
            Generation g = fusion.generate(prompt, options);
            texts.add(g.text());
            words += words(g.text());
            tokens += g.outputTokens();
            steps += g.steps().size();
        }
        long nanos = System.nanoTime() - t0;
        return new Pass(texts, nanos, words, tokens, steps, instruments.counts().minus(before));
    }

    /** Fuses every prompt on {@code threads} threads at once (each takes the next prompt), outputs in prompt order. */
    private static Pass concurrent(CoolFusion fusion, FusionOptions options, List<String> prompts,
            Instruments instruments, int threads) {
        Instruments.Counts before = instruments.counts();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            AtomicInteger next = new AtomicInteger();
            Generation[] results = new Generation[prompts.size()];
            long t0 = System.nanoTime();
            List<Future<?>> running = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                running.add(pool.submit(() -> {
                    for (int i = next.getAndIncrement(); i < prompts.size(); i = next.getAndIncrement()) {
                        results[i] = fusion.generate(prompts.get(i), options);
                    }
                }));
            }
            for (Future<?> f : running) {
                f.get();
            }
            long nanos = System.nanoTime() - t0;
            List<String> texts = new ArrayList<>();
            long words = 0;
            long tokens = 0;
            long steps = 0;
            for (Generation g : results) {
                texts.add(g.text());
                words += words(g.text());
                tokens += g.outputTokens();
                steps += g.steps().size();
            }
            return new Pass(texts, nanos, words, tokens, steps, instruments.counts().minus(before));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FusionException("interrupted while measuring " + threads + " concurrent generations", e);
        } catch (ExecutionException e) {
            throw new FusionException("a concurrent generation failed: " + e.getCause().getMessage(), e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    private static long words(String text) {
        String s = text.strip();
        return s.isEmpty() ? 0 : s.split("\\s+").length;
    }

    /** The process's peak resident set size, from /proc/self/status, or why it is unknown. */
    static String peakResidentMemory() {
        Path status = Path.of("/proc/self/status");
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("VmHWM:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return String.format(Locale.ROOT, "%.0f MB", Long.parseLong(parts[0]) / 1024.0);
                }
            }
            return "unknown (no VmHWM in " + status + ")";
        } catch (IOException | NumberFormatException e) {
            return "unknown (" + status + " is not readable here: " + e.getMessage() + ")";
        }
    }
}
