import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.eval.*;
import dev.coolfusion.spi.*;
import com.fasterxml.jackson.databind.*;
import java.nio.file.Path;
import java.util.*;

/** Rescore an eval's whole answers under other prompts: does scoring away from the generation prompt blunt self-preference? */
public class PromptStudy {
    public static void main(String[] args) throws Exception {
        JsonNode root = new ObjectMapper().readTree(Path.of(args[0]).toFile());
        try (FusionSetup setup = FusionSetup.load(Path.of("models/fusion.yaml"))) {
            List<String> names = setup.sourceNames();
            Map<String, FewShot> prompts = new LinkedHashMap<>();
            prompts.put("3-shot (as generated)", FewShot.builtIn(3));
            prompts.put("0-shot", FewShot.builtIn(0));
            prompts.put("1-shot", FewShot.builtIn(1));
            RerankMetric metric = Evaluator.defaultRerankMetric();
            WholeAnswers.Ending ending = WholeAnswers.Ending.stop("\n\n");
            for (Map.Entry<String, FewShot> e : prompts.entrySet()) {
                int rr = 0, cr = 0, cool = 0, coolOnly = 0, crOnly = 0;
                for (JsonNode item : root.get("items")) {
                    JsonNode out = item.get("outputs");
                    List<String> cands = new ArrayList<>();
                    List<Boolean> right = new ArrayList<>();
                    for (String n : names) {
                        cands.add(out.get("single:" + n).get("text").asText());
                        right.add(out.get("single:" + n).get("correct").asBoolean());
                    }
                    cands.add(out.get("cool").get("text").asText());
                    right.add(out.get("cool").get("correct").asBoolean());
                    String prompt = e.getValue().prompt(item.get("question").asText());
                    List<CandidateEvidence> ev = Rerank.assess(prompt, cands, setup.sources(), ending);
                    boolean r = right.get(Rerank.choose(ev.subList(0, names.size()), metric).index());
                    boolean c = right.get(Rerank.choose(ev, metric).index());
                    boolean f = right.get(names.size());
                    rr += r ? 1 : 0; cr += c ? 1 : 0; cool += f ? 1 : 0;
                    coolOnly += f && !c ? 1 : 0; crOnly += c && !f ? 1 : 0;
                }
                System.out.printf("%-24s rerank %d  cool+rerank %d  cool %d  (cool only %d, c+r only %d)%n", e.getKey(), rr, cr,
                        cool, coolOnly, crOnly);
            }
        }
    }
}
