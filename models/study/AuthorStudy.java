/** Attempt 6: every scorer's token log-probs (with char spans) of each answer in an `eval --out` file, and who wrote each part; dev sets only. */
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.eval.*;
import dev.coolfusion.spi.*;
import com.fasterxml.jackson.databind.*;
import com.fasterxml.jackson.databind.node.*;
import java.nio.file.Path;
import java.util.*;

public class AuthorStudy {
    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        JsonNode root = json.readTree(Path.of(args[0]).toFile());
        ArrayNode out = json.createArrayNode();
        WholeAnswers.Ending ending = WholeAnswers.Ending.stop("\n\n");
        long t0 = System.nanoTime();
        try (FusionSetup setup = FusionSetup.load(Path.of(args.length > 2 ? args[2] : "models/fusion.yaml"))) {
            List<String> names = setup.sourceNames();
            FewShot shots = FewShot.builtIn(3);
            int k = 0, mismatch = 0;
            for (JsonNode item : root.get("items")) {
                JsonNode o = item.get("outputs");
                String prompt = shots.prompt(item.get("question").asText());
                ObjectNode n = out.addObject();
                n.put("gold", item.get("gold").asText());
                ArrayNode cands = n.putArray("cands");
                List<String> texts = new ArrayList<>();
                List<ObjectNode> cn = new ArrayList<>();
                List<String> keys = new ArrayList<>();
                for (String nm : names) keys.add("single:" + nm);
                keys.add("cool");
                for (String key : keys) {
                    JsonNode r = o.get(key);
                    String text = r.get("text").asText();
                    texts.add(text);
                    ObjectNode c = cands.addObject();
                    c.put("author", key.startsWith("single:") ? key.substring(7) : "cool");
                    c.put("text", text);
                    c.put("correct", r.get("correct").asBoolean());
                    ArrayNode segs = c.putArray("segs");
                    if (key.equals("cool")) {
                        StringBuilder sb = new StringBuilder();
                        for (JsonNode s : r.get("segments")) {
                            ObjectNode sn = segs.addObject();
                            sn.put("start", sb.length());
                            sb.append(s.get("text").asText());
                            sn.put("end", sb.length());
                            sn.set("by", s.get("by"));
                        }
                        if (!sb.toString().equals(text)) mismatch++;
                    } else {
                        ObjectNode sn = segs.addObject();
                        sn.put("start", 0); sn.put("end", text.length());
                        sn.putArray("by").add(c.get("author").asText());
                    }
                    c.putObject("lp");
                    cn.add(c);
                }
                List<CandidateEvidence> evidence = Rerank.assess(prompt, texts, setup.sources(), ending);
                for (int s = 0; s < setup.sources().size(); s++) {
                    SourceModel m = setup.sources().get(s);
                    for (int c = 0; c < texts.size(); c++) {
                        List<Double> lps = evidence.get(c).byModel().get(s).logProbs();
                        List<Integer> x = WholeAnswers.tokens(m.codec(), texts.get(c), ending);
                        ArrayNode a = ((ObjectNode) cn.get(c).get("lp")).putArray(m.name());
                        int prev = 0;
                        for (int i = 0; i < x.size(); i++) {
                            int end = m.codec().decodeContinuation(x.subList(0, i + 1)).length();
                            ArrayNode t = a.addArray();
                            t.add(lps.get(i)); t.add(prev); t.add(end);
                            prev = Math.max(prev, end);
                        }
                    }
                }
                if (++k % 100 == 0) System.err.printf("%d items %.0f s (segment/text mismatches %d)%n", k, (System.nanoTime() - t0) / 1e9, mismatch);
            }
            System.err.println("segment/text mismatches: " + mismatch);
        }
        json.writeValue(Path.of(args[1]).toFile(), out);
    }
}
