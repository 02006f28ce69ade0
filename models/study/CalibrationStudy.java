import dev.coolfusion.eval.*;
import dev.coolfusion.spi.*;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.*;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.*;

/**
 * Dev-set study of temperature calibration: every source's, Cool-Fusion's and the gold answer (each followed by the
 * stop string), scored by every source at a grid of temperatures (log_softmax(logits / T)).
 */
public class CalibrationStudy {
    static final double[] GRID = new double[31];
    static { for (int i = 0; i < GRID.length; i++) GRID[i] = 0.5 + 0.1 * i; }

    public static void main(String[] args) throws Exception {
        List<GsmItem> items = GsmData.read(Path.of(args[0]));
        int limit = Integer.parseInt(args[2]);
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        ArrayNode grid = root.putArray("grid");
        for (double t : GRID) grid.add(t);
        ArrayNode out = root.putArray("items");
        try (FusionSetup setup = FusionSetup.load(Path.of(args.length > 3 ? args[3] : "models/fusion.yaml"))) {
            List<String> names = setup.sourceNames();
            Evaluator ev = new Evaluator(setup.sources(), setup.metric(), setup.options(), FewShot.builtIn(3));
            List<EvalMethod> methods = new ArrayList<>();
            for (String n : names) methods.add(EvalMethod.parse("single:" + n, names));
            methods.add(EvalMethod.parse("cool", names));
            long t0 = System.nanoTime();
            int k = 0;
            for (GsmItem item : items.subList(0, Math.min(limit, items.size()))) {
                String prompt = ev.shots().prompt(item.question());
                Evaluator.ItemResult r = ev.run(item, methods);
                ObjectNode n = out.addObject();
                n.put("gold", item.gold());
                List<String> texts = new ArrayList<>();
                List<String> authors = new ArrayList<>();
                for (String nm : names) { texts.add(r.outputs().get("single:" + nm).text()); authors.add(nm); }
                texts.add(r.outputs().get("cool").text()); authors.add("cool");
                texts.add(" " + item.solution() + " The answer is " + item.gold() + "."); authors.add("gold");
                ArrayNode cands = n.putArray("cands");
                for (int c = 0; c < texts.size(); c++) {
                    ObjectNode o = cands.addObject();
                    o.put("author", authors.get(c));
                    o.put("text", texts.get(c));
                    String ex = Answers.extract(texts.get(c));
                    o.put("correct", ex != null && ex.equals(item.gold()));
                    o.put("bytes", (texts.get(c) + "\n\n").getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
                    ObjectNode sc = o.putObject("scores");
                    for (SourceModel m : setup.sources()) {
                        List<Integer> p = m.codec().encodePrompt(prompt);
                        List<Integer> x = m.codec().encodeContinuation(texts.get(c) + "\n\n").ids();
                        List<Integer> all = new ArrayList<>(p);
                        all.addAll(x);
                        Method f = m.getClass().getDeclaredMethod("fullForwardLogits", List.class);
                        f.setAccessible(true);
                        float[] logits = (float[]) f.invoke(m, all);
                        int vocab = logits.length / all.size();
                        double[] sums = new double[GRID.length];
                        for (int i = 0; i < x.size(); i++) {
                            int pos = p.size() + i - 1;
                            int off = pos * vocab;
                            int target = x.get(i);
                            for (int g = 0; g < GRID.length; g++) {
                                double t = GRID[g];
                                double max = Double.NEGATIVE_INFINITY;
                                for (int v = 0; v < vocab; v++) max = Math.max(max, logits[off + v] / t);
                                double z = 0;
                                for (int v = 0; v < vocab; v++) z += Math.exp(logits[off + v] / t - max);
                                sums[g] += logits[off + target] / t - max - Math.log(z);
                            }
                        }
                        ObjectNode s = sc.putObject(m.name());
                        s.put("tokens", x.size());
                        ArrayNode a = s.putArray("logprob");
                        for (double v : sums) a.add(v);
                    }
                }
                k++;
                if (k % 20 == 0) System.err.printf("%d items %.0f s%n", k, (System.nanoTime() - t0) / 1e9);
            }
        }
        json.writeValue(Path.of(args[1]).toFile(), root);
    }
}
