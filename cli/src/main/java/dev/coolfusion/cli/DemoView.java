package dev.coolfusion.cli;

import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.core.metric.BitsPerByte;
import dev.coolfusion.eval.EvalReport;
import dev.coolfusion.eval.Evaluator;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.Span;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** What {@code cool-fusion demo} prints: segments marked by the model that won them, and the accuracy table. */
public final class DemoView {
    private static final String[] COLOURS = {"\u001b[34m", "\u001b[32m", "\u001b[35m", "\u001b[33m", "\u001b[36m"};
    private static final String SHARED = "\u001b[90m";
    private static final String BOLD = "\u001b[1m";
    private static final String RESET = "\u001b[0m";

    private final PrintWriter out;
    private final boolean ansi;
    private final List<String> names;

    public DemoView(PrintWriter out, boolean ansi, List<String> names) {
        this.out = out;
        this.ansi = ansi;
        this.names = List.copyOf(names);
    }

    /** The sources and how each tokenizer cuts the same text into words; {@code metric} is the fusion's. */
    public void intro(List<SourceModel> sources, RerankMetric metric) {
        out.println(bold("Cool-Fusion demo") + ": " + sources.size() + " small models with different tokenizers, fused"
                + " segment by segment at generation time.");
        out.println("Each step, every model proposes text up to a word boundary ALL tokenizers share; every model scores"
                + " every candidate in its own tokens; the lowest " + describe(metric) + " wins.");
        String sample = " 36 - 7 = 29.";
        out.println();
        out.println("How each tokenizer splits \"" + sample + "\" into words (| marks a word start):");
        for (SourceModel s : sources) {
            Encoded e = s.codec().encodeContinuation(sample);
            StringBuilder b = new StringBuilder();
            for (Span w : e.words()) {
                b.append('|').append(sample, w.start(), w.end());
            }
            out.printf("  %s  %-28s (%d tokens)%n", tag(s.name()), b.toString().replace("\n", "\\n"), e.ids().size());
        }
        out.println();
        out.print("Legend: ");
        for (String n : names) {
            out.print(colour(n, "[" + n + "] won by " + n) + "  ");
        }
        out.println(ansi ? SHARED + "grey: proposed by several" + RESET : "[A+B]: proposed by several");
        out.flush();
    }

    /** One problem: the question, each model alone, and the fused answer segment by segment. */
    public void problem(Evaluator.ItemResult r) {
        out.println();
        out.println(bold("Question: ") + r.item().question() + "   (gold: " + r.item().gold() + ")");
        if (r.failed()) {
            out.println("  not run: " + r.error());
            out.flush();
            return;
        }
        r.outputs().forEach((method, o) -> {
            if (method.startsWith("single:")) {
                String n = method.substring("single:".length());
                out.printf("  %s alone: %s %s%n", n, o.text().strip(), mark(o.correct()));
            }
        });
        Evaluator.Output fused = r.outputs().get("cool");
        StringBuilder b = new StringBuilder();
        for (Evaluator.Segment s : fused.segments()) {
            b.append(segment(s));
        }
        out.printf("  fused:  %s %s%n", b.toString().strip(), mark(fused.correct()));
        out.flush();
    }

    private String segment(Evaluator.Segment s) {
        String text = s.text().replace("\n", "\\n");
        if (s.proposers().size() == 1) {
            String n = s.proposers().get(0);
            return ansi ? colour(n, text) : "[" + n + "]" + text;
        }
        return ansi ? SHARED + text + RESET : "[" + String.join("+", s.proposers()) + "]" + text;
    }

    public void tableHeader(int n, Path data) {
        out.println();
        out.println(bold("Accuracy on a fixed sample") + ": the first " + n + " problems of " + data.getFileName()
                + " (held out from training), 3-shot, greedy.");
        out.flush();
    }

    public void progress(int done, int total, long startNanos) {
        if (ansi) {
            double secs = (System.nanoTime() - startNanos) / 1e9;
            out.printf("\r  %d/%d problems, %.0f s", done, total, secs);
            if (done == total) {
                out.print("\r" + " ".repeat(40) + "\r");
            }
            out.flush();
        }
    }

    public void table(EvalReport report) {
        out.println();
        report.printTable(out);
        out.println("(single:X = model X alone; rerank = best whole answer, scored with the blank line that"
                + " ends it, by perplexity averaged over the three models (Eq. 3); cool2 = Cool-Fusion of"
                + " the first two models; cool = of all three; cool+rerank = the fused answer joins the rerank"
                + " candidates; cool-align = segments end at the proposer's own word boundaries)");
        out.flush();
    }

    /** How the intro names the metric: the built-in ones in words, any other by its name. */
    static String describe(RerankMetric metric) {
        return switch (metric.name()) {
            case AveragePerplexity.NAME -> "average perplexity";
            case BitsPerByte.NAME -> "average bits per byte";
            default -> "score of the '" + metric.name() + "' metric";
        };
    }

    private String mark(boolean correct) {
        if (ansi) {
            return correct ? "\u001b[32m✓" + RESET : "\u001b[31m✗" + RESET;
        }
        return correct ? "(correct)" : "(wrong)";
    }

    private String tag(String name) {
        return colour(name, "[" + name + "]");
    }

    private String colour(String name, String text) {
        if (!ansi) {
            return text;
        }
        int i = names.indexOf(name);
        return COLOURS[Math.max(0, i) % COLOURS.length] + text + RESET;
    }

    private String bold(String text) {
        return ansi ? BOLD + text + RESET : text;
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }
}
