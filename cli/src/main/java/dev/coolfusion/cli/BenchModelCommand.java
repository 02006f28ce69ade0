package dev.coolfusion.cli;

import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.testkit.TinyCheckpoints;
import dev.coolfusion.spi.FusionException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Measures one local model's speed and memory in one run. */
@Command(name = "bench-model", description = "Measure prefill and decode speed, batched versus one-by-one scoring of "
        + "k candidates, and native memory over 500 decode steps, in one run.")
final class BenchModelCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Target target;

    static final class Target {
        @Option(names = "--model", paramLabel = "<dir>", description = "A Hugging Face model folder.")
        Path model;

        @Option(names = "--reference-shape", paramLabel = "small|medium", description = "Write and measure a random "
                + "Llama of the README's reference shapes: small (hidden 128, 4 layers, vocab 2048) or medium "
                + "(hidden 512, 8 layers, vocab 32000).")
        String shape;
    }

    @CommandLine.Mixin
    DjlModelOptionsMixin runtime;

    @Option(names = "--threads", description = "libtorch intra-op threads (default: libtorch's choice).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (threads != null) {
            if (threads < 1) {
                throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
            }
            System.setProperty("ai.djl.pytorch.num_threads", threads.toString());
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
        DjlModelOptions.Builder options = runtime.builder();
        Path dir = target.model;
        Path generated = null;
        if (target.shape != null) {
            TinyCheckpoints.Spec shape = switch (target.shape) {
                case "small" -> TinyCheckpoints.Spec.llamaSmall();
                case "medium" -> TinyCheckpoints.Spec.llamaMedium();
                default -> throw new FusionException("--reference-shape takes small or medium, got '" + target.shape + "'");
            };
            generated = Files.createTempDirectory("cool-fusion-bench-");
            spec.commandLine().getErr().printf(Locale.ROOT, "writing a random %s Llama (%,d parameters) to %s%n",
                    target.shape, shape.parameters(), generated);
            TinyCheckpoints.write(generated, shape);
            dir = generated;
            options.name("llama-" + target.shape);
        }
        try {
            ModelBenchmark.Result r = ModelBenchmark.run(dir, options.build(), ModelBenchmark.Settings.defaults());
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "model:            %s%n", r.model());
            out.printf(Locale.ROOT, "prefill:          %.0f tokens/s (%d-token prompt)%n", r.prefillTokensPerSecond(),
                    r.settings().promptTokens());
            out.printf(Locale.ROOT, "decode:           %.1f tokens/s (greedy, KV cache)%n", r.decodeTokensPerSecond());
            out.printf(Locale.ROOT, "score k=%d x %d:   batched %.2f ms, one by one %.2f ms, ratio %.2fx%n",
                    r.settings().candidates(), r.settings().candidateTokens(), r.batchedScoreMillis(),
                    r.oneByOneScoreMillis(), r.batchSpeedup());
            out.printf(Locale.ROOT, "native memory:    %d -> %d managed NDArrays, RSS %d -> %d kB over %d decode steps%n",
                    r.managedArraysBefore(), r.managedArraysAfter(), r.rssKbBefore(), r.rssKbAfter(),
                    r.settings().memorySteps());
            out.printf(Locale.ROOT, "kv cache:         %d prefix copies (capacity growth), %d store(s) live after %d decode"
                    + " steps%n", r.cachePrefixCopies(), r.cacheStoresAfter(), r.settings().memorySteps());
            out.printf(Locale.ROOT, "engine arrays:    %d for the %d-token prefill, %.1f per decode token%n",
                    r.prefillEngineArrays(), r.settings().promptTokens(), r.decodeEngineArrays());
            out.printf(Locale.ROOT, "prefix cache:     open of %d tokens sharing %d with a kept prompt %.2f ms vs prefill"
                    + " %.2f ms (%.2fx); %d hits, %d misses over the run%n", r.settings().promptTokens(),
                    r.sharedPrefixTokens(), r.reuseOpenMillis(), r.prefillMillis(),
                    r.prefillMillis() / r.reuseOpenMillis(), r.prefixHits(), r.prefixMisses());
            List<ModelBenchmark.ConcurrentDecode> concurrent = ModelBenchmark.concurrentDecode(dir, options.build(),
                    ModelBenchmark.Settings.defaults(), List.of(1, 4, 8));
            for (ModelBenchmark.ConcurrentDecode c : concurrent) {
                out.printf(Locale.ROOT, "concurrent decode: %d at once %8.1f tokens/s, %.2fx one at a time, %.2f calls per"
                        + " forward%n", c.generations(), c.tokensPerSecond(), c.tokensPerSecond()
                        / concurrent.get(0).tokensPerSecond(), c.callsPerForward());
            }
            out.flush();
            return 0;
        } finally {
            if (generated != null) {
                MoreFiles.deleteRecursively(generated, RecursiveDeleteOption.ALLOW_INSECURE);
            }
        }
    }
}
