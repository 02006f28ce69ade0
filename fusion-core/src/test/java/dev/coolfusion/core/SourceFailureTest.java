package dev.coolfusion.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.FusionException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The fault policy: {@code fail} reports the first failing call; {@code drop} goes on without the failing source. */
class SourceFailureTest {
    private static final FusionOptions DROP = FusionOptions.builder().onSourceFailure(SourceFailurePolicy.DROP).build();

    private static ScriptedModel cat() {
        return new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat sat.", 0.9);
    }

    private static ScriptedModel dog() {
        return new ScriptedModel("dog", CharCodec.Words.SPACES, "the dog sat.", 0.6);
    }

    private static CoolFusion fusion(ScriptedModel... models) {
        return CoolFusion.builder().sources(List.of(models)).build();
    }

    /** What cat writes alone: with dog dropped, the fusion must continue exactly as cat alone does. */
    private static String catAlone() {
        return fusion(cat()).generate("", FusionOptions.defaults()).text();
    }

    private static void assertOnlyCatAfter(Generation g, int droppedAt) {
        for (StepTrace step : g.steps()) {
            if (step.index() > droppedAt || (step.index() == droppedAt && !step.dropped().isEmpty())) {
                for (CandidateTrace c : step.candidates()) {
                    assertEquals(List.of("cat"), c.scorers(), "step " + step.index() + " " + c);
                    assertFalse(c.proposers().contains("dog"), "step " + step.index() + " " + c);
                }
            }
        }
    }

    @Test
    void dropLeavesASourceThatFailsInT1OutAndGoesOnWithTheOthers() {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        dog.failOnNextToken = new IllegalStateException("worker died");
        dog.failNextTokenAfter = 5; // step 0 needs 5 tokens ("the" and a look-ahead), so dog fails in step 1
        Generation g = fusion(cat, dog).generate("", DROP);
        assertEquals(catAlone(), g.text());
        assertEquals(FinishReason.END_OF_SEQUENCE, g.finish());
        assertEquals(1, g.dropped().size(), g.dropped().toString());
        DroppedSource d = g.dropped().get(0);
        assertEquals(new DroppedSource("dog", 1, "segment generation (T1)", "worker died", Optional.empty()), d);
        assertEquals(List.of(d), g.steps().get(1).dropped());
        assertTrue(g.steps().get(0).dropped().isEmpty());
        assertEquals(List.of("cat", "dog"), g.steps().get(0).candidates().get(0).scorers());
        assertOnlyCatAfter(g, 1);
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates(), "the dropped source's states are released");
    }

    @Test
    void aSourceDroppedInM3ContributesNeitherProposalNorScores() {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        dog.failOnScore = new IllegalStateException("out of memory");
        Generation g = fusion(cat, dog).generate("", DROP.toBuilder().reuseProposerLogProbs(false).build());
        assertEquals(catAlone(), g.text());
        assertEquals("joint assessment (M3)", g.dropped().get(0).phase());
        assertEquals(0, g.dropped().get(0).step());
        assertEquals("out of memory", g.dropped().get(0).reason());
        assertOnlyCatAfter(g, 0);
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void aSourceDroppedInM4LeavesTheOthersCommittedAndConsistent() {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        dog.failOnCommit = new IllegalStateException("disconnected");
        Generation g = fusion(cat, dog).generate("", DROP);
        assertEquals(catAlone(), g.text());
        assertEquals(new DroppedSource("dog", 0, "state update (M4)", "disconnected", Optional.empty()),
                g.dropped().get(0));
        assertEquals(List.of("cat", "dog"), g.steps().get(0).candidates().get(0).scorers(),
                "step 0 was scored by both before dog failed to commit");
        assertEquals(List.of(g.dropped().get(0)), g.steps().get(0).dropped());
        assertOnlyCatAfter(g, 1);
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void aSourceThatCannotOpenIsDroppedBeforeTheFirstStep() {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        dog.failOnOpen = new IllegalStateException("model not loaded");
        Generation g = fusion(cat, dog).generate("", DROP);
        assertEquals(catAlone(), g.text());
        assertEquals(new DroppedSource("dog", 0, "open (M1)", "model not loaded", Optional.empty()), g.dropped().get(0));
        assertOnlyCatAfter(g, 0);
        assertEquals(0, dog.nextTokenCalls.get());
        assertEquals(0, cat.liveStates());
    }

    @Test
    void aFailingReleaseOfADroppedSourceIsRecordedAndIgnored() {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        dog.failOnScore = new IllegalStateException("worker died");
        dog.failOnRelease = new IllegalStateException("connection refused");
        Generation g = fusion(cat, dog).generate("", DROP.toBuilder().reuseProposerLogProbs(false).build());
        assertEquals(catAlone(), g.text());
        assertEquals(Optional.of("connection refused"), g.dropped().get(0).releaseError());
        assertTrue(g.dropped().get(0).describe().contains("releasing its states failed too: connection refused"),
                g.dropped().get(0).describe());
        assertEquals(0, cat.liveStates());
    }

    @Test
    void whenNoSourceIsLeftTheErrorNamesEveryDroppedSourceAndItsError() {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        cat.failOnScore = new IllegalStateException("cat's GPU is gone");
        dog.failOnScore = new IllegalStateException("dog's worker died");
        // Without the proposers' own log-probs M3 scores every candidate from step 0 on.
        FusionException e = assertThrows(FusionException.class, () -> fusion(cat, dog).generate("",
                DROP.toBuilder().reuseProposerLogProbs(false).build()));
        assertTrue(e.getMessage().startsWith("every source failed (on-source-failure: drop): "), e.getMessage());
        assertTrue(e.getMessage().contains("'cat' in step 0, joint assessment (M3): cat's GPU is gone"), e.getMessage());
        assertTrue(e.getMessage().contains("'dog' in step 0, joint assessment (M3): dog's worker died"), e.getMessage());
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void whenOnlyProposersAreLeftTheErrorSaysNoScorerIsLeft() {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        dog.scores = false;
        cat.failOnNextToken = new IllegalStateException("cat's worker died");
        FusionException e = assertThrows(FusionException.class, () -> fusion(cat, dog).generate("", DROP));
        assertTrue(e.getMessage().startsWith("no source that can score is left (dog only propose)"), e.getMessage());
        assertTrue(e.getMessage().contains("'cat' in step 0, segment generation (T1): cat's worker died"), e.getMessage());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void failReportsTheFailingCallNotTheReleaseThatFailedAfterIt() {
        for (String phase : List.of("open (M1)", "joint assessment (M3)", "state update (M4)")) {
            ScriptedModel cat = cat();
            ScriptedModel dog = dog();
            IllegalStateException died = new IllegalStateException("worker died");
            switch (phase) {
                case "open (M1)" -> dog.failOnOpen = died;
                case "joint assessment (M3)" -> dog.failOnScore = died;
                default -> dog.failOnCommit = died;
            }
            dog.failOnRelease = new IllegalStateException("cannot reach the model server (release on model 'dog')");
            // Without the proposers' own log-probs dog scores (and fails) in step 0, before any release.
            FusionException e = assertThrows(FusionException.class, () -> fusion(cat, dog).generate("",
                    FusionOptions.builder().reuseProposerLogProbs(false).build()));
            assertEquals("source 'dog' failed in " + phase + ": worker died", e.getMessage());
            assertEquals(died, e.getCause());
            List<String> suppressed = Arrays.stream(e.getSuppressed()).map(Throwable::getMessage).toList();
            if (phase.equals("open (M1)")) {
                assertEquals(List.of(), suppressed, "dog holds no state to release after a failed open");
            } else {
                assertEquals(List.of("releasing the states of source 'dog' failed: cannot reach the model server"
                        + " (release on model 'dog')"), suppressed);
            }
            assertEquals(0, cat.liveStates(), phase);
        }
    }

    @Test
    void failDoesNotWaitForASourceThatHangsAndReleasesItsStatesWhenItReturns() throws InterruptedException {
        ScriptedModel cat = cat();
        ScriptedModel dog = dog();
        CountDownLatch hang = new CountDownLatch(1);
        cat.holdNextToken = hang; // cat hangs in T1 (a dead worker before its time-out) ...
        dog.failOnNextToken = new IllegalStateException("worker died"); // ... while dog fails at once
        FusionException e = assertThrows(FusionException.class, () -> fusion(cat, dog).generate("",
                FusionOptions.defaults()));
        assertEquals("source 'dog' failed in segment generation (T1): worker died", e.getMessage());
        assertEquals(0, dog.liveStates());
        assertTrue(cat.liveStates() > 0, "cat's task still runs, so its states are not released under it");
        hang.countDown();
        for (int i = 0; i < 500 && cat.liveStates() > 0; i++) {
            TimeUnit.MILLISECONDS.sleep(10);
        }
        assertEquals(0, cat.liveStates(), "released once its task returned");
    }

    @Test
    void thePolicyIsAnOptionWithConfigNames() {
        assertEquals(SourceFailurePolicy.FAIL, FusionOptions.defaults().onSourceFailure());
        assertEquals(SourceFailurePolicy.DROP, SourceFailurePolicy.fromConfigName("drop"));
        assertEquals("fail", SourceFailurePolicy.FAIL.configName());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SourceFailurePolicy.fromConfigName("ignore"));
        assertTrue(e.getMessage().contains("'ignore'") && e.getMessage().contains("'drop'"), e.getMessage());
        assertThrows(NullPointerException.class, () -> FusionOptions.builder().onSourceFailure(null));
    }
}
