/** Whole-answer metrics (avg-ppl, mean log-PPL, total NLL, bits per byte) rescored on an eval's answers; dev sets only. */
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.eval.*;
import dev.coolfusion.spi.*;
import com.fasterxml.jackson.databind.*;
import java.nio.file.Path;
import java.util.*;
import java.util.function.ToDoubleFunction;

public class MetricStudy {
    public static void main(String[] args) throws Exception {
        JsonNode root = new ObjectMapper().readTree(Path.of(args[0]).toFile());
        try (FusionSetup setup = FusionSetup.load(Path.of("models/fusion.yaml"))) {
            List<String> names = setup.sourceNames();
            Map<String, ToDoubleFunction<CandidateEvidence>> metrics = new LinkedHashMap<>();
            metrics.put("avg-ppl", e -> e.byModel().stream().mapToDouble(m -> Math.exp(m.meanNll())).average().orElseThrow());
            metrics.put("mean log-ppl", e -> e.byModel().stream().mapToDouble(ModelLogProbs::meanNll).average().orElseThrow());
            metrics.put("total nll", e -> e.byModel().stream().mapToDouble(ModelLogProbs::totalNll).average().orElseThrow());
            metrics.put("bits/byte", e -> e.byModel().stream().mapToDouble(ModelLogProbs::totalNll).average().orElseThrow()
                    / (e.text().getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 2));
            WholeAnswers.Ending ending = WholeAnswers.Ending.stop("\n\n");
            FewShot shots = FewShot.builtIn(3);
            Map<String, int[]> counts = new LinkedHashMap<>();
            metrics.keySet().forEach(k -> counts.put(k, new int[4]));
            int cool = 0;
            for (JsonNode item : root.get("items")) {
                JsonNode out = item.get("outputs");
                List<String> cands = new ArrayList<>();
                List<Boolean> right = new ArrayList<>();
                for (String n : names) {
                    cands.add(out.get("single:" + n).get("text").asText());
                    right.add(out.get("single:" + n).get("correct").asBoolean());
                }
                cands.add(out.get("cool").get("text").asText());
                boolean f = out.get("cool").get("correct").asBoolean();
                right.add(f);
                cool += f ? 1 : 0;
                List<CandidateEvidence> ev = Rerank.assess(shots.prompt(item.get("question").asText()), cands, setup.sources(), ending);
                for (Map.Entry<String, ToDoubleFunction<CandidateEvidence>> m : metrics.entrySet()) {
                    int best = 0, bestAll = 0;
                    for (int i = 0; i < ev.size(); i++) {
                        double s = m.getValue().applyAsDouble(ev.get(i));
                        if (i < names.size() && s < m.getValue().applyAsDouble(ev.get(best))) best = i;
                        if (s < m.getValue().applyAsDouble(ev.get(bestAll))) bestAll = i;
                    }
                    int[] c = counts.get(m.getKey());
                    boolean cr = right.get(bestAll);
                    c[0] += right.get(best) ? 1 : 0; c[1] += cr ? 1 : 0; c[2] += f && !cr ? 1 : 0; c[3] += cr && !f ? 1 : 0;
                }
            }
            System.out.println("cool " + cool);
            counts.forEach((k, c) -> System.out.printf("%-14s rerank %d  cool+rerank %d  (cool only %d, c+r only %d)%n", k, c[0], c[1], c[2], c[3]));
        }
    }
}
