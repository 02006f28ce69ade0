package dev.coolfusion.eval;

import dev.coolfusion.core.config.FusionFactory;

import dev.coolfusion.core.config.ConfiguredFusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.testkit.BundledModels;
import java.util.List;
import org.junit.jupiter.api.Test;

class RerankTest {
    @Test
    void aModelsOwnGreedyAnswerBeatsScrambledTextAndEveryCandidateGetsAScore() {
        try (ConfiguredFusion setup = FusionFactory.discover().create(BundledModels.dir().resolve("fusion.yaml"))) {
            String prompt = BundledShots.three().prompt("Tom has 4 bags with 6 apples in each. How many apples does he have?");
            var a = setup.sources().get(0);
            String greedy = CoolFusion.builder().addSource(a).build()
                    .generate(prompt, setup.options()).text();
            String scrambled = " apples 6 The . is = answer 4 * bags";
            Rerank.Choice c = Rerank.choose(prompt, List.of(scrambled, greedy, ""), setup.sources(), new AveragePerplexity());
            assertEquals(1, c.index(), "greedy '" + greedy + "' should win");
            assertEquals(3, c.scores().length);
            assertTrue(Double.isInfinite(c.scores()[2]), "an empty answer has no tokens to score");
            assertTrue(c.scores()[1] < c.scores()[0]);
            // The per-scorer values are each scorer's perplexity, scored once with the scores.
            for (int i = 0; i < 3; i++) {
                assertEquals(setup.sourceNames(), List.copyOf(c.modelScores().get(i).keySet()));
                for (ModelLogProbs m : c.evidence().get(i).byModel()) {
                    double ppl = AveragePerplexity.perplexity(m);
                    assertEquals(ppl, c.modelScores().get(i).get(m.model()), Double.isNaN(ppl) ? 0 : 1e-12 * ppl);
                }
            }
            assertEquals(c.scores()[1], (c.modelScores().get(1).values().stream().mapToDouble(Double::doubleValue).sum())
                    / setup.sources().size(), 1e-9 * c.scores()[1]);
        }
    }

    @Test
    void endingsScoreWhatEndsTheAnswerAfterIt() {
        try (ConfiguredFusion setup = FusionFactory.discover().create(BundledModels.dir().resolve("fusion.yaml"))) {
            String prompt = BundledShots.three().prompt("Tom has 4 bags with 6 apples in each. How many apples does he have?");
            List<String> answers = List.of(" 4 * 6 = 24. The answer is 24.", " 4 * 6 = 24. The answer is");
            AveragePerplexity metric = new AveragePerplexity();
            Rerank.Choice none = Rerank.choose(prompt, answers, setup.sources(), metric, WholeAnswers.Ending.NONE);
            Rerank.Choice eos = Rerank.choose(prompt, answers, setup.sources(), metric, WholeAnswers.Ending.EOS);
            Rerank.Choice stop = Rerank.choose(prompt, answers, setup.sources(), metric, WholeAnswers.Ending.of(setup.options()));
            assertEquals("\n\n", WholeAnswers.Ending.of(setup.options()).suffix(), "the config's first stop string");
            for (int c = 0; c < answers.size(); c++) {
                assertEquals(answers.get(c), none.evidence().get(c).text());
                assertEquals(answers.get(c) + "\n\n", stop.evidence().get(c).text());
                assertTrue(eos.evidence().get(c).endOfSequence());
                for (int m = 0; m < setup.sources().size(); m++) {
                    var source = setup.sources().get(m);
                    List<Double> plain = none.evidence().get(c).byModel().get(m).logProbs();
                    List<Double> withEos = eos.evidence().get(c).byModel().get(m).logProbs();
                    int eosTokens = source.codec().primaryEndOfSequenceId().isPresent() ? 1 : 0;
                    assertEquals(plain.size() + eosTokens, withEos.size(), source.name());
                    for (int t = 0; t < plain.size(); t++) {
                        assertEquals(plain.get(t), withEos.get(t), 1e-4, "same prefix, same log-probs");
                    }
                    assertTrue(stop.evidence().get(c).byModel().get(m).logProbs().size() > plain.size() - 1);
                }
            }
            // Without an ending the cut-off answer is as good as the complete one to every scorer; with the blank
            // line that ends an answer in the few-shot format, the complete one wins.
            assertEquals(0, stop.index(), "complete answer should win with the stop ending: " + java.util.Arrays.toString(stop.scores()));
            double[] cut = {none.scores()[1], stop.scores()[1]};
            assertTrue(stop.scores()[1] > none.scores()[1], "the blank line after a cut answer is unlikely: " + java.util.Arrays.toString(cut));
            // An empty answer is scored by its ending alone.
            Rerank.Choice empty = Rerank.choose(prompt, List.of(""), setup.sources(), metric, WholeAnswers.Ending.stop("\n\n"));
            assertTrue(Double.isFinite(empty.scores()[0]));
        }
    }
}
