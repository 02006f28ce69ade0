package dev.coolfusion.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.demo.BundledModels;
import java.util.List;
import org.junit.jupiter.api.Test;

class RerankTest {
    @Test
    void aModelsOwnGreedyAnswerBeatsScrambledTextAndEveryCandidateGetsAScore() {
        try (FusionSetup setup = FusionSetup.load(BundledModels.dir().resolve("fusion.yaml"))) {
            String prompt = FewShot.builtIn(3).prompt("Tom has 4 bags with 6 apples in each. How many apples does he have?");
            var a = setup.sources().get(0);
            String greedy = CoolFusion.builder().addSource(a).build()
                    .generate(prompt, setup.options()).text();
            String scrambled = " apples 6 The . is = answer 4 * bags";
            Rerank.Choice c = Rerank.choose(prompt, List.of(scrambled, greedy, ""), setup.sources(), new AveragePerplexity());
            assertEquals(1, c.index(), "greedy '" + greedy + "' should win");
            assertEquals(3, c.scores().length);
            assertTrue(Double.isInfinite(c.scores()[2]), "an empty answer has no tokens to score");
            assertTrue(c.scores()[1] < c.scores()[0]);
            assertTrue(FusionOptions.defaults().maxNewTokens() > 0);
        }
    }
}
