package dev.coolfusion.cli;

import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.eval.EvalMethod;
import dev.coolfusion.eval.EvalReport;
import dev.coolfusion.eval.Evaluator;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.eval.Rerank;
import dev.coolfusion.eval.ResultsChart;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.RerankMetric;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** GSM8K-style evaluation of single sources, Rerank, Cool-Fusion and its ablations (the paper's Table 3 protocol). */
@Command(name = "eval", description = {
    "Evaluate methods on GSM8K-format data: few-shot prompts, greedy decoding, exact match on the final number.",
    "Methods: " + EvalMethod.FORMS + ". Default: every source alone, rerank, cool2, cool, cool+rerank, cool-align."})
final class EvalCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", required = true, description = "Fusion config (YAML): sources, metric, options.")
    Path config;

    @CommandLine.Mixin
    GsmDataOptions input;

    @Option(names = "--methods", split = ",", description = "Comma-separated methods (default: all).")
    List<String> methods = new ArrayList<>();

    @Option(names = "--out", description = "Write results (accuracy and per-item outputs) as JSON.")
    Path out;

    @Option(names = "--chart", description = "Write a PNG bar chart of accuracy per method.")
    Path chart;

    @Option(names = "--rerank-metric", description = "Metric of rerank and cool+rerank over whole answers"
            + " (default: avg-ppl, Eq. 3; the config's metric is Cool-Fusion's).")
    String rerankMetric;

    @Option(names = "--rerank-end", description = "What each scorer scores after a whole answer: stop (the first stop"
            + " string), eos (its end-of-sequence token) or none (default: stop when the config has stop strings, else eos).")
    String rerankEnd;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        // The output paths are checked before the evaluation, not after it.
        OutputFiles.check("--out", out);
        OutputFiles.check("--chart", chart);
        OutputFiles.distinct("--out", out, "--chart", chart);
        DjlThreads.configure();
        List<GsmItem> items = input.items();
        Path data = input.data;
        FewShot fewShot = input.fewShot();
        try (ConfiguredFusion setup = FusionFactory.discover().create(config)) {
            List<String> names = setup.sourceNames();
            List<EvalMethod> chosen = new ArrayList<>();
            if (methods.isEmpty()) {
                chosen.addAll(EvalMethod.defaults(names));
            } else {
                for (String m : methods) {
                    chosen.add(EvalMethod.parse(m, names));
                }
            }
            for (FewShot.Shot s : fewShot.shots()) {
                for (GsmItem item : items) {
                    if (item.question().strip().equals(s.question().strip())) {
                        throw new FusionException(data + ":" + item.line() + ": this item is also a few-shot exemplar;"
                                + " take the shots from another source (--shots-file)");
                    }
                }
            }
            RerankMetric wholeAnswer = rerankMetric == null ? Evaluator.defaultRerankMetric() : Plugins.discover().metric(ComponentSpec.of(rerankMetric));
            WholeAnswers.Ending ending = ending(rerankEnd, setup.options());
            Evaluator evaluator = new Evaluator(setup.sources(), setup.metric(), wholeAnswer, ending, setup.options(),
                    fewShot);
            EvalReport report = new EvalReport(chosen);
            report.meta("config", config.toString());
            report.meta("data", data.toString());
            report.meta("items", items.size());
            report.meta("shots", fewShot.shots().size());
            report.meta("sources", names);
            report.meta("metric", setup.metric().name());
            report.meta("rerank-metric", wholeAnswer.name());
            report.meta("rerank-end", describe(ending));
            long start = System.nanoTime();
            ProgressBar bar = noProgress ? null : progressBar(items.size());
            try {
                for (GsmItem item : items) {
                    report.add(evaluator.run(item, chosen));
                    if (bar != null) {
                        bar.step();
                        bar.setExtraMessage(accuracyLine(report));
                    }
                }
            } finally {
                if (bar != null) {
                    bar.close();
                }
            }
            report.meta("seconds", (System.nanoTime() - start) / 1e9);
            w.printf("%d items, %d-shot, sources %s, metric %s, rerank metric %s, rerank end %s%n", items.size(),
                    fewShot.shots().size(), names, setup.metric().name(), wholeAnswer.name(), describe(ending));
            report.printTable(w);
            if (out != null) {
                report.writeJson(out);
                w.println("results: " + out);
            }
            if (chart != null) {
                ResultsChart.write(report, "Accuracy on " + data.getFileName() + " (" + items.size() + " items)", chart);
                w.println("chart: " + chart);
            }
            w.flush();
        }
        return 0;
    }

    static WholeAnswers.Ending ending(String spec, FusionOptions options) {
        if (spec == null) {
            return WholeAnswers.Ending.of(options);
        }
        return switch (spec) {
            case "none" -> WholeAnswers.Ending.NONE;
            case "eos" -> WholeAnswers.Ending.EOS;
            case "stop" -> {
                if (options.stopStrings().isEmpty()) {
                    throw new FusionException("--rerank-end stop: the config has no stop strings");
                }
                yield WholeAnswers.Ending.stop(options.stopStrings().get(0));
            }
            default -> throw new FusionException("--rerank-end must be stop, eos or none, got '" + spec + "'");
        };
    }

    /**
     * On a terminal, a bar redrawn in place twice a second; otherwise (a log file, CI) one plain line every ten
     * seconds, so the log stays readable.
     */
    private static ProgressBar progressBar(int total) {
        ProgressBarBuilder builder = new ProgressBarBuilder().setTaskName("eval").setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).continuousUpdate();
        if (System.console() == null) {
            builder.setUpdateIntervalMillis(10_000).setConsumer(new DelegatingProgressBarConsumer(System.err::println, 200));
        } else {
            builder.setUpdateIntervalMillis(500);
        }
        return builder.build();
    }

    static String describe(WholeAnswers.Ending e) {
        if (e.suffix().isEmpty()) {
            return e.endOfSequence() ? "eos" : "none";
        }
        return "stop " + e.suffix().replace("\n", "\\n") + (e.endOfSequence() ? " + eos" : "");
    }

    private static String accuracyLine(EvalReport report) {
        StringBuilder b = new StringBuilder();
        for (EvalReport.Score s : report.scores()) {
            if (b.length() > 0) {
                b.append(' ');
            }
            b.append(s.method().replace("single:", "")).append('=').append(Math.round(100 * s.accuracy()));
        }
        return b.toString();
    }
}
