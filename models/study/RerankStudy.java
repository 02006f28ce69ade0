import dev.coolfusion.eval.*;
import dev.coolfusion.spi.*;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.*;
import java.nio.file.Path;
import java.util.*;

/** Dev-set study: each source's and Cool-Fusion's answers, scored by every source with three endings. */
public class RerankStudy {
    public static void main(String[] args) throws Exception {
        List<GsmItem> items = GsmData.read(Path.of(args[0]));
        int limit = Integer.parseInt(args[2]);
        ObjectMapper json = new ObjectMapper();
        ArrayNode out = json.createArrayNode();
        try (FusionSetup setup = FusionSetup.load(Path.of(args.length > 3 ? args[3] : "models/fusion.yaml"))) {
            List<String> names = setup.sourceNames();
            Evaluator ev = new Evaluator(setup.sources(), setup.metric(), setup.options(), FewShot.builtIn(3));
            List<EvalMethod> methods = new ArrayList<>();
            for (String n : names) methods.add(EvalMethod.parse("single:" + n, names));
            methods.add(EvalMethod.parse("cool", names));
            methods.add(EvalMethod.parse("cool+rerank", names));
            long t0 = System.nanoTime();
            int k = 0;
            for (GsmItem item : items.subList(0, Math.min(limit, items.size()))) {
                String prompt = ev.shots().prompt(item.question());
                Evaluator.ItemResult r = ev.run(item, methods);
                ObjectNode n = out.addObject();
                n.put("gold", item.gold());
                n.put("question", item.question());
                n.put("coolrerank_correct", r.outputs().get("cool+rerank").correct());
                ArrayNode cands = n.putArray("cands");
                List<String> texts = new ArrayList<>();
                List<String> authors = new ArrayList<>();
                for (String nm : names) { texts.add(r.outputs().get("single:" + nm).text()); authors.add(nm); }
                texts.add(r.outputs().get("cool").text()); authors.add("cool");
                List<ObjectNode> cn = new ArrayList<>();
                for (int c = 0; c < texts.size(); c++) {
                    ObjectNode o = cands.addObject();
                    o.put("author", authors.get(c));
                    o.put("text", texts.get(c));
                    String ex = Answers.extract(texts.get(c));
                    o.put("correct", ex != null && ex.equals(item.gold()));
                    o.putObject("none"); o.putObject("eos"); o.putObject("stop");
                    cn.add(o);
                }
                for (SourceModel m : setup.sources()) {
                    for (String variant : List.of("none", "eos", "stop")) {
                        List<List<Integer>> ids = new ArrayList<>();
                        for (String t : texts) {
                            List<Integer> x = new ArrayList<>(m.codec().encodeContinuation(variant.equals("stop") ? t + "\n\n" : t).ids());
                            if (variant.equals("eos")) m.codec().primaryEndOfSequenceId().ifPresent(x::add);
                            ids.add(x);
                        }
                        StateHandle st = m.open(m.codec().encodePrompt(prompt));
                        List<StateHandle> hs = new ArrayList<>(List.of(st));
                        try {
                            List<ScoredTokens> sc = m.score(st, ids);
                            for (int c = 0; c < texts.size(); c++) {
                                hs.add(sc.get(c).state());
                                ArrayNode a = ((ObjectNode) cn.get(c).get(variant)).putArray(m.name());
                                sc.get(c).logProbs().forEach(a::add);
                            }
                        } finally { m.release(hs); }
                    }
                }
                k++;
                if (k % 20 == 0) System.err.printf("%d items %.0f s%n", k, (System.nanoTime() - t0) / 1e9);
            }
        }
        json.writerWithDefaultPrettyPrinter().writeValue(Path.of(args[1]).toFile(), out);
    }
}
