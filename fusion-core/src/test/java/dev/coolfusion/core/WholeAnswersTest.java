package dev.coolfusion.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ContextLengthExceededException;
import java.util.List;
import org.junit.jupiter.api.Test;

class WholeAnswersTest {

    @Test
    void everyScorerScoresEveryAnswerInItsOwnTokensWithItsEndOfSequence() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat", 0.9);
        ScriptedModel dog = new ScriptedModel("dog", CharCodec.Words.SPACES, "the dog", 0.6);
        List<List<Integer>> prompts = List.of(List.of(CharCodec.BOS), List.of(CharCodec.BOS));
        List<CandidateEvidence> evidence = WholeAnswers.assess(List.of(cat, dog), prompts, List.of("the cat", "the dog"), WholeAnswers.Ending.EOS);
        assertEquals(2, evidence.size());
        for (CandidateEvidence e : evidence) {
            assertEquals(List.of("cat", "dog"), e.byModel().stream().map(m -> m.model()).toList());
            assertEquals(e.text().length() + 1, e.byModel().get(0).logProbs().size(), "the answer's chars and EOS");
        }
        // "the cat" then EOS is exactly what cat prefers: every token has probability 0.9.
        assertEquals(Math.log(0.9) * 8, evidence.get(0).byModel().get(0).logProbs().stream().mapToDouble(d -> d).sum(), 1e-9);
        // cat is more confident than dog, so under Eq. 3 its answer wins.
        assertEquals(0, new AveragePerplexity().select(evidence));
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());

        List<CandidateEvidence> open = WholeAnswers.assess(List.of(cat), List.of(List.of(CharCodec.BOS)), List.of("the"), WholeAnswers.Ending.NONE);
        assertEquals(3, open.get(0).byModel().get(0).logProbs().size(), "an unfinished answer gets no EOS");
        List<CandidateEvidence> stop = WholeAnswers.assess(List.of(cat), List.of(List.of(CharCodec.BOS)), List.of("the"),
                WholeAnswers.Ending.of(FusionOptions.builder().stopStrings(List.of(" c")).build()));
        assertEquals("the c", stop.get(0).text(), "a stop-string ending is scored as text after the answer");
        assertEquals(5, stop.get(0).byModel().get(0).logProbs().size());
    }

    @Test
    void proposerOnlySourcesAreLeftOutOfTheJudgesAndNoJudgeAtAllIsAnError() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat", 0.9);
        ScriptedModel dog = new ScriptedModel("dog", CharCodec.Words.SPACES, "the dog", 0.6);
        dog.scores = false; // score() would throw
        List<List<Integer>> prompts = List.of(List.of(CharCodec.BOS), List.of(CharCodec.BOS));
        List<CandidateEvidence> evidence = WholeAnswers.assess(List.of(cat, dog), prompts, List.of("the cat", "the dog"),
                WholeAnswers.Ending.EOS);
        for (CandidateEvidence e : evidence) {
            assertEquals(List.of("cat"), e.byModel().stream().map(m -> m.model()).toList());
        }
        cat.scores = false;
        IllegalArgumentException none = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> WholeAnswers.assess(List.of(cat, dog), prompts, List.of("the cat"), WholeAnswers.Ending.EOS));
        assertEquals("no source can score whole answers (canScore() is false for [cat, dog]); add a source that scores",
                none.getMessage());
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void aFailingScoreIsReportedNotTheReleaseThatFailsAfterIt() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat", 0.9);
        IllegalStateException died = new IllegalStateException("worker died");
        cat.failOnScore = died;
        cat.failOnRelease = new IllegalStateException("cannot reach the model server (release on model 'cat')");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> WholeAnswers.assess(List.of(cat),
                List.of(List.of(CharCodec.BOS)), List.of("the cat"), WholeAnswers.Ending.EOS));
        assertEquals(died, e);
        assertEquals(List.of("cannot reach the model server (release on model 'cat')"),
                java.util.Arrays.stream(e.getSuppressed()).map(Throwable::getMessage).toList());
    }

    @Test
    void anAnswerThatDoesNotFitAScorersContextIsAClearErrorBeforeAnyModelWork() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat", 0.9);
        ScriptedModel dog = new ScriptedModel("dog", CharCodec.Words.SPACES, "the dog", 0.6);
        dog.maxContext = 9; // BOS, "the cat" and EOS fit; "the cats" and EOS do not
        List<List<Integer>> prompts = List.of(List.of(CharCodec.BOS), List.of(CharCodec.BOS));
        assertEquals(1, WholeAnswers.assess(List.of(cat, dog), prompts, List.of("the cat"), WholeAnswers.Ending.EOS).size());
        ContextLengthExceededException e = assertThrows(ContextLengthExceededException.class, () -> WholeAnswers.assess(
                List.of(cat, dog), prompts, List.of("the cat", "the cats"), WholeAnswers.Ending.EOS));
        assertEquals("dog", e.source());
        assertEquals(10, e.tokens());
        assertEquals(9, e.maxContextTokens());
        assertTrue(e.getMessage().contains("answer 1 (9 tokens) after the 1-token prompt does not fit the max context of 9"),
                e.getMessage());
        assertEquals(1, cat.scoreCalls.get(), "only the first, fitting call scored");
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void rejectsMismatchedInput() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat", 0.9);
        assertThrows(IllegalArgumentException.class, () -> WholeAnswers.assess(List.of(cat), List.of(), List.of("x"), WholeAnswers.Ending.EOS));
        assertThrows(IllegalArgumentException.class,
                () -> WholeAnswers.assess(List.of(cat), List.of(List.of(1)), List.of(), WholeAnswers.Ending.EOS));
    }
}
