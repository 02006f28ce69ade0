package dev.coolfusion.cli;

import dev.coolfusion.core.CandidateTrace;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FinishReason;
import dev.coolfusion.core.DroppedSource;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.SourceFailurePolicy;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Fuses the configured models on one prompt and prints the text, optionally with the per-step trace. */
@Command(name = "generate", description = "Fuse models on one prompt: from a fusion YAML config, or from model "
        + "folders (--model, repeated) on the local DJL backend.")
final class GenerateCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Sources sources;

    static final class Sources {
        @Option(names = "--config", paramLabel = "<fusion.yaml>", description = "A fusion config (sources, metric, options).")
        Path config;

        @Option(names = "--model", paramLabel = "<dir>", description = "A Hugging Face model folder; repeat for each source.")
        List<Path> models;
    }

    @Option(names = "--prompt", required = true, description = "The prompt; each model tokenizes it itself.")
    String prompt;

    @Option(names = "--max-new-tokens", description = "Override the config's limit (first source's tokens).")
    Integer maxNewTokens;

    @Option(names = "--on-source-failure", paramLabel = "fail|drop", description = "Override the config's fault policy:"
            + " fail (a failing source ends the generation, the default) or drop (go on without it).")
    String onSourceFailure;

    @Option(names = "--metric", description = "Override the config's rerank metric (see 'cool-fusion providers').")
    String metric;

    @Option(names = "--trace", description = "Print every step: candidates, proposers, score, each model's value under"
            + " the rerank metric (its perplexity for avg-ppl), winner.")
    boolean trace;

    @Override
    public Integer call() {
        if (prompt.isBlank()) {
            throw new IllegalArgumentException("--prompt is " + (prompt.isEmpty() ? "empty" : "blank")
                    + ": give the text to continue");
        }
        FusionConfig config = sources.config != null ? FusionConfigLoader.load(sources.config) : fromModels(sources.models);
        if (metric != null) {
            config = new FusionConfig(config.sources(), ComponentSpec.of(metric), config.options());
        }
        FusionOptions.Builder overrides = config.options().toBuilder();
        if (maxNewTokens != null) {
            overrides.maxNewTokens(maxNewTokens);
        }
        if (onSourceFailure != null) {
            try {
                overrides.onSourceFailure(SourceFailurePolicy.fromConfigName(onSourceFailure));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--on-source-failure: " + e.getMessage(), e);
            }
        }
        FusionOptions options = overrides.build();
        try (ConfiguredFusion setup = FusionFactory.discover().create(config)) {
            CoolFusion fusion = setup.fusion();
            PrintWriter out = spec.commandLine().getOut();
            Generation g = fusion.generate(prompt, options);
            if (trace) {
                out.printf(Locale.ROOT, "metric %s (lower wins; after | each model's value)%n", fusion.metric().name());
                for (StepTrace step : g.steps()) {
                    printStep(out, step);
                }
                out.println();
            }
            out.println(g.text());
            out.printf(Locale.ROOT, "(%s, %d steps, %d tokens)%n", finish(g, options), g.steps().size(), g.outputTokens());
            for (DroppedSource d : g.dropped()) {
                out.println("dropped source " + d.describe());
            }
            out.flush();
            return 0;
        }
    }

    /** The finish reason in words; a length finish before the limits means a source's context is full. */
    static String finish(Generation g, FusionOptions options) {
        String name = g.finish().name().toLowerCase(Locale.ROOT);
        if (g.finish() == FinishReason.LENGTH && g.outputTokens() < options.maxNewTokens()
                && g.text().length() < options.maxNewChars()) {
            return name + ": a source's context is full";
        }
        return name;
    }

    static FusionConfig fromModels(List<Path> dirs) {
        List<ComponentSpec> specs = new ArrayList<>();
        for (Path dir : dirs) {
            specs.add(ComponentSpec.of("djl", Map.of("path", dir.toString())));
        }
        return FusionConfig.of(specs);
    }

    private static void printStep(PrintWriter out, StepTrace step) {
        out.printf(Locale.ROOT, "step %d (%.1f ms)%n", step.index(), step.elapsedNanos() / 1e6);
        for (int i = 0; i < step.candidates().size(); i++) {
            CandidateTrace c = step.candidates().get(i);
            StringBuilder values = new StringBuilder();
            c.modelScores().forEach((model, v) -> values.append(String.format(Locale.ROOT, " %s=%.3g", model, v)));
            out.printf(Locale.ROOT, "  %s %-24s by %-20s score %.4g%s%n", i == step.winner() ? "*" : " ",
                    quote(c.text()) + (c.endOfSequence() ? "+EOS" : ""), String.join(",", c.proposers()), c.score(),
                    values.isEmpty() ? "" : " |" + values);
        }
    }

    private static String quote(String s) {
        return "\"" + s.replace("\n", "\\n").replace("\t", "\\t") + "\"";
    }
}
