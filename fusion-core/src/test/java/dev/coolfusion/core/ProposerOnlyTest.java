package dev.coolfusion.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.spi.ModelLogProbs;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Sources that propose but cannot score ({@code canScore() == false}). */
class ProposerOnlyTest {

    private static ScriptedModel proposerOnly(String name, CharCodec.Words words, String script, double confidence) {
        ScriptedModel m = new ScriptedModel(name, words, script, confidence);
        m.scores = false;
        return m;
    }

    @Test
    void aProposerOnlySourceProposesIsNeverAskedToScoreAndFollowsTheWinnerByAppend() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat sat.", 0.9);
        ScriptedModel dog = proposerOnly("dog", CharCodec.Words.SPACES, "the dog sat.", 0.99);
        Generation g = CoolFusion.builder().addSource(cat).addSource(dog).build().generate("", FusionOptions.defaults());
        assertEquals(0, dog.scoreCalls.get(), "dog is never asked to score");
        boolean dogProposedSomethingElse = false;
        for (StepTrace step : g.steps()) {
            for (CandidateTrace c : step.candidates()) {
                assertEquals(List.of("cat"), c.scorers(), "only the scorer's log-probs: " + c);
                // the score is the mean over the scorers only: cat's perplexity
                assertEquals(AveragePerplexity.perplexity(c.logProbs().get(0)), c.score(), 1e-12);
                assertEquals(List.of("cat"), List.copyOf(c.modelScores().keySet()));
                dogProposedSomethingElse |= c.proposers().equals(List.of("dog"));
            }
        }
        assertTrue(dogProposedSomethingElse, "dog proposed its own segments");
        // cat scores its own words best, so its segments win and dog follows them through append
        assertEquals("the cat sat.", g.text());
        assertTrue(dog.appendCalls.get() > 0, "dog followed winners it did not generate by append");
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void aProposerOnlySourceThatWinsWithItsOwnTokensKeepsItsGenerationState() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the dog sat.", 0.9);
        ScriptedModel dog = proposerOnly("dog", CharCodec.Words.SPACES, "the dog sat.", 0.9);
        Generation g = CoolFusion.builder().addSource(cat).addSource(dog).build().generate("", FusionOptions.defaults());
        assertEquals("the dog sat.", g.text());
        for (StepTrace step : g.steps()) {
            assertTrue(step.winningCandidate().proposers().contains("dog"), step.toString());
        }
        assertEquals(0, dog.appendCalls.get(), "every winner was dog's own proposal: its generation states are reused");
        assertEquals(0, dog.scoreCalls.get());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void theOutcomeEqualsTheScorerAloneRankingTheSameCandidates() {
        // With one scorer, every step's winner is the candidate with the lowest perplexity under that scorer.
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat sat.", 0.7);
        ScriptedModel dog = proposerOnly("dog", CharCodec.Words.SPACES, "the dog sat.", 0.9);
        Generation g = CoolFusion.builder().addSource(cat).addSource(dog).build().generate("", FusionOptions.defaults());
        for (StepTrace step : g.steps()) {
            double best = step.candidates().stream().mapToDouble(c -> c.logProbs().stream()
                    .mapToDouble(ModelLogProbs::meanNll).map(Math::exp).average().orElseThrow()).min().orElseThrow();
            assertEquals(best, step.winningCandidate().score(), 1e-12, step.toString());
        }
    }

    @Test
    void aFusionWithoutAScoringSourceIsRefusedAtBuildTime() {
        ScriptedModel a = proposerOnly("a", CharCodec.Words.SPACES, "x", 0.9);
        ScriptedModel b = proposerOnly("b", CharCodec.Words.PRE_TOKENIZER, "y", 0.9);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> CoolFusion.builder().addSource(a).addSource(b).build());
        assertEquals("no source can score (canScore() is false for a, b): the rerank needs at least one source that"
                + " scores candidates; add one", e.getMessage());
    }
}
