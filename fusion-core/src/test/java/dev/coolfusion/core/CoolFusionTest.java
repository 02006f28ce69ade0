package dev.coolfusion.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.spi.Alignment;
import dev.coolfusion.core.metric.BitsPerByte;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class CoolFusionTest {

    private static ScriptedModel cat(double confidence) {
        return new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, "the cat sat.", confidence);
    }

    private static ScriptedModel dog(double confidence) {
        return new ScriptedModel("dog", CharCodec.Words.SPACES, "the dog sat.", confidence);
    }

    private static CoolFusion fusion(ScriptedModel... models) {
        return CoolFusion.builder().sources(List.of(models)).build();
    }

    /** PPL of {@code text} under a scripted model that has already output {@code before} after a 1-token prompt. */
    private static double ppl(ScriptedModel model, String before, String text, boolean eos) {
        List<Integer> tokens = new ArrayList<>(List.of(CharCodec.BOS));
        before.chars().forEach(c -> tokens.add(c + 3));
        double nll = 0;
        int n = 0;
        List<Integer> candidate = new ArrayList<>();
        text.chars().forEach(c -> candidate.add(c + 3));
        if (eos) {
            candidate.add(CharCodec.EOS);
        }
        for (int token : candidate) {
            nll -= model.logProb(tokens, token);
            tokens.add(token);
            n++;
        }
        return Math.exp(nll / n);
    }

    @Test
    void theSegmentWithTheLowestAveragePerplexityWins() {
        ScriptedModel cat = cat(0.9);
        ScriptedModel dog = dog(0.6);
        Generation g = fusion(cat, dog).generate("", FusionOptions.defaults());

        StepTrace disagreement = g.steps().stream().filter(s -> s.candidates().size() == 2).findFirst().orElseThrow();
        List<String> texts = disagreement.candidates().stream().map(CandidateTrace::text).toList();
        assertEquals(List.of(" cat", " dog"), texts);
        double catScore = (ppl(cat, "the", " cat", false) + ppl(dog, "the", " cat", false)) / 2;
        double dogScore = (ppl(cat, "the", " dog", false) + ppl(dog, "the", " dog", false)) / 2;
        String expectedWinner = catScore < dogScore ? " cat" : " dog";
        assertEquals(expectedWinner, disagreement.winningCandidate().text());
        assertEquals(catScore, disagreement.candidates().get(0).score(), 1e-9);
        assertEquals(dogScore, disagreement.candidates().get(1).score(), 1e-9);

        // Swapping the confidences swaps the winner: the metric, not the source order, decides.
        Generation swapped = fusion(cat(0.6), dog(0.9)).generate("", FusionOptions.defaults());
        assertEquals("the dog sat.", swapped.text());
        assertEquals("the" + expectedWinner + " sat.", g.text());
    }

    @Test
    void endsAtEndOfSequenceAndEmitsExactlyTheText() {
        Generation g = fusion(cat(0.9), dog(0.6)).generate("", FusionOptions.defaults());
        assertEquals(FinishReason.END_OF_SEQUENCE, g.finish());
        assertEquals("the cat sat.", g.text());
        StepTrace last = g.steps().get(g.steps().size() - 1);
        assertTrue(last.winningCandidate().endOfSequence());
        assertEquals(g.text(), g.steps().stream().map(StepTrace::emitted).collect(Collectors.joining()));
        assertEquals("the cat sat.".length(), g.outputTokens()); // one token per char for the first source
    }

    @Test
    void traceRecordsCandidatesProposersScoresAndWinner() {
        Generation g = fusion(cat(0.9), dog(0.6)).generate("", FusionOptions.defaults());
        StepTrace first = g.steps().get(0);
        assertEquals(1, first.candidates().size(), "both propose 'the'");
        assertEquals("the", first.winningCandidate().text());
        assertEquals(List.of("cat", "dog"), first.winningCandidate().proposers());
        for (StepTrace step : g.steps()) {
            for (CandidateTrace c : step.candidates()) {
                assertEquals(List.of("cat", "dog"), List.copyOf(c.modelScores().keySet()));
                assertEquals(2, c.logProbs().size());
                for (ModelLogProbs m : c.logProbs()) {
                    assertEquals(AveragePerplexity.perplexity(m), c.modelScores().get(m.model()), 1e-12,
                            "with avg-ppl the trace has each model's perplexity");
                }
                double mean = c.modelScores().values().stream().mapToDouble(Double::doubleValue).average().orElseThrow();
                assertEquals(mean, c.score(), 1e-9, "avg-ppl is the mean of the per-model perplexities");
            }
            double best = step.candidates().stream().mapToDouble(CandidateTrace::score).min().orElseThrow();
            assertEquals(best, step.winningCandidate().score());
        }
        assertTrue(g.steps().get(g.steps().size() - 1).finish().isPresent());
        assertTrue(g.steps().stream().limit(g.steps().size() - 1).allMatch(s -> s.finish().isEmpty()));
    }

    @Test
    void maxNewTokensCutsTheTextToTheLimit() {
        Generation g = fusion(cat(0.9), dog(0.6)).generate("", FusionOptions.builder().maxNewTokens(5).build());
        assertEquals(FinishReason.LENGTH, g.finish());
        assertEquals("the c", g.text());
        assertEquals(5, g.outputTokens());
        assertEquals(g.text(), g.steps().stream().map(StepTrace::emitted).collect(Collectors.joining()));
    }

    @Test
    void maxNewCharsCutsTheText() {
        Generation g = fusion(cat(0.9), dog(0.6)).generate("", FusionOptions.builder().maxNewChars(8).build());
        assertEquals(FinishReason.LENGTH, g.finish());
        assertEquals("the cat ", g.text());
    }

    @Test
    void stopStringEndsTheTextBeforeItAndIsNeverEmitted() {
        Generation g = fusion(cat(0.9), dog(0.6)).generate("",
                FusionOptions.builder().stopStrings(List.of("at s")).build());
        assertEquals(FinishReason.STOP, g.finish());
        assertEquals("the c", g.text());
        assertEquals(g.text(), g.steps().stream().map(StepTrace::emitted).collect(Collectors.joining()));
        // Held back while it could still become the stop string: " cat" is emitted only as " c".
        assertFalse(g.steps().stream().anyMatch(s -> s.emitted().contains("at")));
    }

    @Test
    void stopStringSpanningTwoSegmentsIsFound() {
        Generation g = fusion(cat(0.9)).generate("", FusionOptions.builder().stopStrings(List.of("e c")).build());
        assertEquals(FinishReason.STOP, g.finish());
        assertEquals("th", g.text());
    }

    @Test
    void everyStateIsReleasedAfterAGeneration() {
        ScriptedModel cat = cat(0.9);
        ScriptedModel dog = dog(0.6);
        fusion(cat, dog).generate("", FusionOptions.defaults());
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
        fusion(cat, dog).generate("", FusionOptions.builder().maxNewTokens(3).stopStrings(List.of("x")).build());
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void aFailingSourceFailsTheStepNamingItAndLeaksNothing() {
        ScriptedModel cat = cat(0.9);
        ScriptedModel dog = dog(0.6);
        dog.failOnScore = new IllegalStateException("GPU on fire");
        FusionException e = assertThrows(FusionException.class, () -> fusion(cat, dog).generate("", FusionOptions.defaults()));
        assertTrue(e.getMessage().contains("'dog'"), e.getMessage());
        assertTrue(e.getMessage().contains("joint assessment"), e.getMessage());
        assertTrue(e.getMessage().contains("GPU on fire"), e.getMessage());
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());
    }

    @Test
    void parallelEqualsSequentialWithSampling() {
        FusionOptions sampled = FusionOptions.builder().temperature(1).seed(42).maxNewTokens(40).build();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            ScriptedModel c1 = cat(0.7);
            ScriptedModel d1 = dog(0.7);
            Generation parallel = CoolFusion.builder().sources(List.of(c1, d1)).executor(pool).build().generate("", sampled);
            Generation sequential = CoolFusion.builder().sources(List.of(cat(0.7), dog(0.7))).executor(Runnable::run).build()
                    .generate("", sampled);
            assertEquals(sequential.text(), parallel.text());
            assertEquals(sequential.finish(), parallel.finish());
            assertEquals(sequential.steps().size(), parallel.steps().size());
            for (int i = 0; i < parallel.steps().size(); i++) {
                assertEquals(sequential.steps().get(i).candidates(), parallel.steps().get(i).candidates());
                assertEquals(sequential.steps().get(i).winner(), parallel.steps().get(i).winner());
            }
            assertTrue(c1.threads.stream().anyMatch(t -> t.startsWith("pool")), "ran on the pool: " + c1.threads);
            // Sampling really sampled, and the seed matters.
            String greedy = fusion(cat(0.7), dog(0.7)).generate("", FusionOptions.defaults()).text();
            assertFalse(parallel.text().equals(greedy), parallel.text());
            List<String> otherSeeds = new ArrayList<>();
            for (long seed = 1; seed <= 3; seed++) {
                otherSeeds.add(fusion(cat(0.7), dog(0.7)).generate("", sampled.toBuilder().seed(seed).build()).text());
            }
            assertTrue(otherSeeds.stream().anyMatch(t -> !t.equals(parallel.text())), otherSeeds.toString());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void lookaheadTokensOfAWinningProposerAreReused() {
        // The SPACES model only sees a boundary when the next word starts, so it generates one char past each
        // segment; when it wins, that char is replayed instead of generated again.
        ScriptedModel with = new ScriptedModel("s", CharCodec.Words.SPACES, "one two three four", 0.9);
        ScriptedModel without = new ScriptedModel("s", CharCodec.Words.SPACES, "one two three four", 0.9);
        Generation a = fusion(with).generate("", FusionOptions.defaults());
        Generation b = fusion(without).generate("", FusionOptions.builder().reuseLookahead(false).build());
        assertEquals(a.text(), b.text());
        assertEquals("one two three four", a.text());
        assertTrue(with.nextTokenCalls.get() < without.nextTokenCalls.get(),
                with.nextTokenCalls.get() + " vs " + without.nextTokenCalls.get());
        assertEquals("one two three four".length() + 1, with.nextTokenCalls.get(), "each token generated once");
        assertEquals(0, with.liveStates());
    }

    @Test
    void coolAlignCutsAtTheProposersOwnBoundaries() {
        // "x.y z": the pre-tokenizer model has boundaries after "x" and "."; the spaces model only before " z".
        ScriptedModel pre = new ScriptedModel("pre", CharCodec.Words.PRE_TOKENIZER, "x.y z", 0.9);
        ScriptedModel spaces = new ScriptedModel("spaces", CharCodec.Words.SPACES, "x.y z", 0.9);
        Generation common = fusion(pre, spaces).generate("", FusionOptions.defaults());
        assertEquals("x.y", common.steps().get(0).winningCandidate().text());
        Generation own = fusion(pre, spaces).generate("", FusionOptions.builder().alignment(Alignment.OWN).build());
        List<String> firstCandidates = own.steps().get(0).candidates().stream().map(CandidateTrace::text).toList();
        assertEquals(List.of("x", "x.y"), firstCandidates);
        assertEquals("x.y z", own.text());
    }

    @Test
    void bitsPerByteIsAnAlternativeMetric() {
        Generation g = CoolFusion.builder().sources(List.of(cat(0.9), dog(0.6))).metric(new BitsPerByte()).build()
                .generate("", FusionOptions.defaults());
        assertEquals("the cat sat.", g.text());
        CandidateTrace c = g.steps().get(0).winningCandidate();
        double expected = c.logProbs().stream().mapToDouble(m -> m.totalNll() / Math.log(2) / 3).average().orElseThrow();
        assertEquals(expected, c.score(), 1e-9);
    }

    @Test
    void withBitsPerByteTheTraceCarriesEachModelsBitsPerByteAndTheLowestScoreWins() {
        Generation g = CoolFusion.builder().sources(List.of(cat(0.9), dog(0.6))).metric(new BitsPerByte()).build()
                .generate("", FusionOptions.defaults());
        boolean disagreed = false;
        for (StepTrace step : g.steps()) {
            disagreed |= step.candidates().size() > 1;
            for (CandidateTrace c : step.candidates()) {
                assertEquals(List.of("cat", "dog"), List.copyOf(c.modelScores().keySet()));
                int bytes = c.text().getBytes(StandardCharsets.UTF_8).length + (c.endOfSequence() ? 1 : 0);
                double sum = 0;
                for (ModelLogProbs m : c.logProbs()) {
                    double bpb = m.totalNll() / Math.log(2) / bytes;
                    assertEquals(bpb, c.modelScores().get(m.model()), 1e-12, m.model() + " on [" + c.text() + "]");
                    sum += bpb;
                }
                assertEquals(sum / c.logProbs().size(), c.score(), 1e-12, "the score is the mean bits per byte");
            }
            double best = step.candidates().stream().mapToDouble(CandidateTrace::score).min().orElseThrow();
            assertEquals(best, step.winningCandidate().score());
            for (int i = 0; i < step.winner(); i++) {
                assertTrue(step.candidates().get(i).score() > best, "the earliest lowest score wins");
            }
        }
        assertTrue(disagreed, "some step had two candidates");
    }

    @Test
    void aMetricThatOnlyScoresStillWorksScoredOncePerStepWithoutPerModelValues() {
        AtomicInteger calls = new AtomicInteger();
        // A third-party metric with only name() and score(): it prefers any candidate mentioning the dog.
        RerankMetric dogLover = new RerankMetric() {
            @Override
            public String name() {
                return "dog-lover";
            }

            @Override
            public double[] score(List<CandidateEvidence> candidates) {
                calls.incrementAndGet();
                return candidates.stream().mapToDouble(c -> c.text().contains("dog") ? 0 : 1).toArray();
            }
        };
        Generation g = CoolFusion.builder().sources(List.of(cat(0.9), dog(0.6))).metric(dogLover).build()
                .generate("", FusionOptions.defaults());
        assertEquals("the dog sat.", g.text(), "avg-ppl would pick the cat; the metric's lowest score decides");
        assertEquals(g.steps().size(), calls.get(), "scored once per step");
        StepTrace disagreement = g.steps().stream().filter(s -> s.candidates().size() == 2).findFirst().orElseThrow();
        assertEquals(List.of(" cat", " dog"), disagreement.candidates().stream().map(CandidateTrace::text).toList());
        assertEquals(1, disagreement.winner());
        assertEquals(List.of(1.0, 0.0), disagreement.candidates().stream().map(CandidateTrace::score).toList());
        for (StepTrace step : g.steps()) {
            for (CandidateTrace c : step.candidates()) {
                assertTrue(c.modelScores().isEmpty(), "no per-model values: " + c.modelScores());
                assertEquals(2, c.logProbs().size(), "the log-probs are still traced");
            }
        }
    }

    @Test
    void builderRejectsBadConfigurationWithClearMessages() {
        IllegalStateException none = assertThrows(IllegalStateException.class, () -> CoolFusion.builder().build());
        assertTrue(none.getMessage().contains("no sources"), none.getMessage());
        IllegalStateException dup = assertThrows(IllegalStateException.class,
                () -> CoolFusion.builder().addSource(cat(0.9)).addSource(cat(0.8)).build());
        assertTrue(dup.getMessage().contains("'cat'"), dup.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FusionOptions.builder().maxNewTokens(0).build());
        assertThrows(IllegalArgumentException.class, () -> FusionOptions.builder().topP(0).build());
        assertThrows(IllegalArgumentException.class, () -> FusionOptions.builder().stopStrings(List.of("")).build());
        CoolFusion f = fusion(cat(0.9));
        IllegalArgumentException prompts = assertThrows(IllegalArgumentException.class,
                () -> f.generateFromTokens(List.of(), FusionOptions.defaults(), StepListener.NONE));
        assertTrue(prompts.getMessage().contains("one prompt per source"), prompts.getMessage());
    }

    @Test
    void listenerSeesEveryStepInOrder() {
        List<Integer> seen = new ArrayList<>();
        ScriptedModel cat = cat(0.9);
        Generation g = fusion(cat).generateFromTokens(List.of(List.of(CharCodec.BOS)), FusionOptions.defaults(),
                step -> seen.add(step.index()));
        assertEquals(g.steps().stream().map(StepTrace::index).toList(), seen);
        assertFalse(seen.isEmpty());
    }
}
