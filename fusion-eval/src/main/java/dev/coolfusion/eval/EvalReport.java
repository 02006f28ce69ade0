package dev.coolfusion.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.core.metric.AveragePerplexity;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Accuracy per method over evaluated items, the per-item outputs, and their JSON form. */
public final class EvalReport {
    /** One method's totals. */
    public record Score(String method, int correct, int total, double seconds) {
        public double accuracy() {
            return total == 0 ? 0 : (double) correct / total;
        }
    }

    private final List<EvalMethod> methods;
    private final List<Evaluator.ItemResult> items = new ArrayList<>();
    private final Map<String, Object> meta = new LinkedHashMap<>();

    public EvalReport(List<EvalMethod> methods) {
        this.methods = List.copyOf(methods);
    }

    public void add(Evaluator.ItemResult r) {
        items.add(r);
    }

    public void meta(String key, Object value) {
        meta.put(key, value);
    }

    public List<Evaluator.ItemResult> items() {
        return items;
    }

    /** The items that could not be run (counted as wrong for every method). */
    public List<Evaluator.ItemResult> failedItems() {
        return items.stream().filter(Evaluator.ItemResult::failed).toList();
    }

    public List<Score> scores() {
        List<Score> out = new ArrayList<>();
        for (EvalMethod m : methods) {
            int correct = 0;
            double seconds = 0;
            for (Evaluator.ItemResult r : items) {
                Evaluator.Output o = r.outputs().get(m.name());
                if (o.correct()) {
                    correct++;
                }
                seconds += o.seconds();
            }
            out.add(new Score(m.name(), correct, items.size(), seconds));
        }
        return out;
    }

    /** A plain-text accuracy table; ratios are against the best single source when there is one. */
    public void printTable(PrintWriter out) {
        List<Score> scores = scores();
        double bestSingle = scores.stream().filter(s -> s.method().startsWith("single:")).mapToDouble(Score::accuracy)
                .max().orElse(Double.NaN);
        out.printf(Locale.ROOT, "%-16s %9s %8s %10s %8s%n", "method", "correct", "acc", "vs best", "sec");
        for (Score s : scores) {
            String ratio = Double.isNaN(bestSingle) || bestSingle == 0 ? "" : String.format(Locale.ROOT, "%.2fx",
                    s.accuracy() / bestSingle);
            out.printf(Locale.ROOT, "%-16s %4d/%-4d %7.1f%% %10s %8.1f%n", s.method(), s.correct(), s.total(),
                    100 * s.accuracy(), ratio, s.seconds());
        }
        List<Evaluator.ItemResult> failed = failedItems();
        if (!failed.isEmpty()) {
            out.printf(Locale.ROOT, "%d of %d items failed and count as wrong for every method; the first, line %d: %s%n",
                    failed.size(), items.size(), failed.get(0).item().line(), failed.get(0).error());
        }
        out.flush();
    }

    public ObjectNode toJson() {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        meta.forEach((k, v) -> root.set(k, json.valueToTree(v)));
        root.put("failed", failedItems().size());
        ArrayNode acc = root.putArray("methods");
        for (Score s : scores()) {
            ObjectNode n = acc.addObject();
            n.put("method", s.method());
            n.put("correct", s.correct());
            n.put("total", s.total());
            n.put("accuracy", s.accuracy());
            n.put("seconds", s.seconds());
        }
        ArrayNode list = root.putArray("items");
        for (Evaluator.ItemResult r : items) {
            ObjectNode n = list.addObject();
            n.put("line", r.item().line());
            n.put("question", r.item().question());
            n.put("gold", r.item().gold());
            if (r.failed()) {
                n.put("error", r.error());
            }
            ObjectNode outs = n.putObject("outputs");
            r.outputs().forEach((method, o) -> {
                ObjectNode on = outs.putObject(method);
                on.put("text", o.text());
                if (o.extracted() == null) {
                    on.putNull("extracted");
                } else {
                    on.put("extracted", o.extracted());
                }
                on.put("correct", o.correct());
                ArrayNode segs = on.putArray("segments");
                for (Evaluator.Segment seg : o.segments()) {
                    ObjectNode sn = segs.addObject();
                    sn.put("text", seg.text());
                    ArrayNode who = sn.putArray("by");
                    seg.proposers().forEach(who::add);
                }
                if (!o.candidates().isEmpty()) {
                    ArrayNode cands = on.putArray("candidates");
                    for (Evaluator.Candidate c : o.candidates()) {
                        ObjectNode cn = cands.addObject();
                        cn.put("by", c.author());
                        cn.put("text", c.text());
                        cn.put("score", c.score());
                        // The per-scorer values keep their first key, "perplexity"; under another metric than
                        // avg-ppl they are that metric's, and its name is written next to them.
                        if (!c.metric().equals(AveragePerplexity.NAME)) {
                            cn.put("metric", c.metric());
                        }
                        ObjectNode values = cn.putObject("perplexity");
                        c.modelScores().forEach(values::put);
                    }
                }
            });
        }
        return root;
    }

    public void writeJson(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            java.nio.file.Files.createDirectories(parent);
        }
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(file.toFile(), toJson());
    }
}
