package dev.coolfusion.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.core.metric.BitsPerByte;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.testkit.BundledModels;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The rerank candidates' per-scorer values follow the rerank metric, in the report and its JSON. */
class EvaluatorTest {

    private static GsmItem item() {
        return GsmData.read(BundledModels.dir().resolve("dev.jsonl")).get(0);
    }

    private static JsonNode candidatesJson(EvalMethod method, Evaluator.ItemResult r) {
        EvalReport report = new EvalReport(List.of(method));
        report.add(r);
        return report.toJson().get("items").get(0).get("outputs").get(method.name()).get("candidates");
    }

    @Test
    void rerankCandidatesCarryTheRerankMetricsPerScorerValues() {
        try (ConfiguredFusion setup = FusionFactory.discover().create(BundledModels.dir().resolve("fusion.yaml"))) {
            List<String> names = setup.sourceNames();
            EvalMethod rerank = EvalMethod.parse("rerank", names);
            WholeAnswers.Ending ending = WholeAnswers.Ending.of(setup.options());
            GsmItem item = item();
            String prompt = BundledShots.three().prompt(item.question());

            Evaluator byPpl = new Evaluator(setup.sources(), setup.metric(), new AveragePerplexity(), ending,
                    setup.options(), BundledShots.three());
            Evaluator byBpb = new Evaluator(setup.sources(), setup.metric(), new BitsPerByte(), ending,
                    setup.options(), BundledShots.three());
            Evaluator.Output ppl = byPpl.run(item, List.of(rerank)).outputs().get("rerank");
            Evaluator.ItemResult bpbResult = byBpb.run(item, List.of(rerank));
            Evaluator.Output bpb = bpbResult.outputs().get("rerank");
            List<String> answers = ppl.candidates().stream().map(Evaluator.Candidate::text).toList();
            assertEquals(answers, bpb.candidates().stream().map(Evaluator.Candidate::text).toList(), "same singles");
            List<CandidateEvidence> evidence = Rerank.assess(prompt, answers, setup.sources(), ending);

            for (int c = 0; c < answers.size(); c++) {
                Evaluator.Candidate p = ppl.candidates().get(c);
                Evaluator.Candidate b = bpb.candidates().get(c);
                assertEquals(AveragePerplexity.NAME, p.metric());
                assertEquals(BitsPerByte.NAME, b.metric());
                assertEquals(names, List.copyOf(p.modelScores().keySet()));
                assertEquals(names, List.copyOf(b.modelScores().keySet()));
                CandidateEvidence e = evidence.get(c);
                int bytes = e.text().getBytes(StandardCharsets.UTF_8).length + (e.endOfSequence() ? 1 : 0);
                double sum = 0;
                for (ModelLogProbs m : e.byModel()) {
                    double perplexity = AveragePerplexity.perplexity(m);
                    double bitsPerByte = m.totalNll() / Math.log(2) / bytes;
                    assertEquals(perplexity, p.modelScores().get(m.model()), 1e-6 * perplexity, m.model());
                    assertEquals(bitsPerByte, b.modelScores().get(m.model()), 1e-6 * bitsPerByte, m.model());
                    sum += bitsPerByte;
                }
                assertEquals(sum / e.byModel().size(), b.score(), 1e-6 * b.score(), "the mean bits per byte");
            }
            double best = bpb.candidates().stream().mapToDouble(Evaluator.Candidate::score).min().orElseThrow();
            int winner = RerankMetric.best(bpb.candidates().stream().mapToDouble(Evaluator.Candidate::score).toArray());
            assertEquals(best, bpb.candidates().get(winner).score());
            assertEquals(bpb.candidates().get(winner).text(), bpb.text(), "the lowest score wins");

            // JSON: the default keeps its keys; another metric's name is written next to its values.
            JsonNode pj = candidatesJson(rerank, new Evaluator.ItemResult(item, java.util.Map.of("rerank", ppl)));
            JsonNode bj = candidatesJson(rerank, bpbResult);
            for (int c = 0; c < answers.size(); c++) {
                assertEquals(List.of("by", "text", "score", "perplexity"), fields(pj.get(c)));
                assertEquals(List.of("by", "text", "score", "metric", "perplexity"), fields(bj.get(c)));
                assertEquals(BitsPerByte.NAME, bj.get(c).get("metric").asText());
                for (String n : names) {
                    assertEquals(ppl.candidates().get(c).modelScores().get(n), pj.get(c).get("perplexity").get(n).asDouble());
                    assertEquals(bpb.candidates().get(c).modelScores().get(n), bj.get(c).get("perplexity").get(n).asDouble());
                }
                assertFalse(pj.get(c).has("metric"));
            }
            assertTrue(answers.size() == names.size());
        }
    }

    @Test
    void anItemWhosePromptDoesNotFitAContextFailsForEveryMethodAndTheRunGoesOn() {
        // Before, the first such item aborted the whole evaluation (the DJL backend's "more than the max context").
        try (ConfiguredFusion setup = FusionFactory.discover().create(BundledModels.dir().resolve("fusion.yaml"))) {
            List<String> names = setup.sourceNames();
            List<EvalMethod> methods = List.of(EvalMethod.parse("single:A", names), EvalMethod.parse("rerank", names),
                    EvalMethod.parse("cool", names));
            Evaluator evaluator = new Evaluator(setup.sources(), setup.metric(), setup.options(), BundledShots.three());
            GsmItem ok = item();
            GsmItem tooLong = new GsmItem(7, (ok.question() + " ").repeat(40), ok.answer(), ok.gold());
            EvalReport report = new EvalReport(methods);
            report.add(evaluator.run(tooLong, methods));
            report.add(evaluator.run(ok, methods));

            Evaluator.ItemResult failed = report.items().get(0);
            assertTrue(failed.failed());
            assertTrue(failed.error().contains("max context of 512 tokens"), failed.error());
            assertEquals(List.of("single:A", "rerank", "cool"), List.copyOf(failed.outputs().keySet()));
            failed.outputs().values().forEach(o -> {
                assertFalse(o.correct());
                assertEquals("", o.text());
            });
            Evaluator.ItemResult ran = report.items().get(1);
            assertFalse(ran.failed());
            assertFalse(ran.outputs().get("cool").text().isEmpty(), "the next item still runs");
            assertEquals(List.of(ran), report.items().stream().filter(r -> !r.failed()).toList());
            for (EvalReport.Score score : report.scores()) {
                assertEquals(2, score.total(), "a failed item counts, as wrong");
            }

            java.io.StringWriter table = new java.io.StringWriter();
            report.printTable(new java.io.PrintWriter(table));
            assertTrue(table.toString().contains("1 of 2 items failed and count as wrong for every method; the first, "
                    + "line 7: the prompt has"), table.toString());
            JsonNode json = report.toJson();
            assertEquals(1, json.get("failed").asInt());
            assertEquals(failed.error(), json.get("items").get(0).get("error").asText());
            assertFalse(json.get("items").get(1).has("error"));
        }
    }

    private static List<String> fields(JsonNode n) {
        List<String> out = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
