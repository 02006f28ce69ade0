package dev.coolfusion.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.spi.FusionException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Running out of context is a finish, not an error. The scripted models refuse any state longer than their max
 * context, as the DJL backend does ("the context is full"), so each of these runs failed before.
 */
class ContextLimitTest {
    private static final String SCRIPT = "the cat sat on the mat.";

    private static ScriptedModel model(String name, CharCodec codec, String script, int maxContext) {
        ScriptedModel m = new ScriptedModel(name, codec, script, 0.9);
        m.maxContext = maxContext;
        return m;
    }

    private static CoolFusion fusion(ScriptedModel... models) {
        return CoolFusion.builder().sources(List.of(models)).build();
    }

    private static String emitted(Generation g) {
        return g.steps().stream().map(StepTrace::emitted).collect(Collectors.joining());
    }

    @Test
    void aFullContextEndsTheGenerationWithLengthAndAllTextSoFar() {
        // cat holds 12 tokens: BOS and 11 chars. Before, its nextToken failed at the 12th char.
        ScriptedModel cat = model("cat", new CharCodec(CharCodec.Words.PRE_TOKENIZER), SCRIPT, 12);
        ScriptedModel dog = new ScriptedModel("dog", CharCodec.Words.SPACES, SCRIPT, 0.6);
        Generation g = fusion(cat, dog).generate("", FusionOptions.defaults());
        assertEquals(FinishReason.LENGTH, g.finish());
        assertEquals("the cat sat", g.text(), "every segment that fits, the last one cut at the context's end");
        assertEquals(g.text(), emitted(g));
        assertEquals(FinishReason.LENGTH, g.steps().get(g.steps().size() - 1).finish().orElseThrow());
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());

        // Without the limit the same fusion writes the whole script.
        cat.maxContext = Integer.MAX_VALUE;
        assertEquals(SCRIPT, fusion(cat, dog).generate("", FusionOptions.defaults()).text());
    }

    @Test
    void aPromptThatLeavesNoRoomIsAnErrorBeforeAnyModelWork() {
        ScriptedModel cat = model("cat", new CharCodec(CharCodec.Words.PRE_TOKENIZER), SCRIPT, 5);
        ScriptedModel dog = new ScriptedModel("dog", CharCodec.Words.SPACES, SCRIPT, 0.6);
        List<Integer> five = List.of(CharCodec.BOS, 'a' + 3, 'b' + 3, 'c' + 3, ':' + 3);
        for (List<Integer> prompt : List.of(five, List.of(CharCodec.BOS, 'a' + 3, 'b' + 3, 'c' + 3, 'd' + 3, ':' + 3))) {
            ContextLengthExceededException e = assertThrows(ContextLengthExceededException.class,
                    () -> fusion(cat, dog).generateFromTokens(List.of(prompt, prompt), FusionOptions.defaults(),
                            StepListener.NONE));
            assertEquals("cat", e.source());
            assertEquals(prompt.size(), e.tokens());
            assertEquals(5, e.maxContextTokens());
            assertTrue(e.getMessage().contains("the prompt has " + prompt.size() + " tokens for source 'cat'"), e.getMessage());
            assertTrue(e.getMessage().contains("max context of 5 tokens"), e.getMessage());
        }
        assertEquals(0, cat.nextTokenCalls.get() + dog.nextTokenCalls.get(), "nothing ran");
        assertEquals(0, cat.liveStates());
        assertEquals(0, dog.liveStates());

        // One free position is room enough: the answer is what fits, and no error.
        Generation g = fusion(cat, dog).generateFromTokens(List.of(five.subList(0, 4), five.subList(0, 4)),
                FusionOptions.defaults(), StepListener.NONE);
        assertEquals(FinishReason.LENGTH, g.finish());
        assertEquals("t", g.text());
    }

    @Test
    void aCandidateThatDoesNotFitOneScorerIsLeftOutInsteadOfFailingM3() {
        // wide spends two tokens on each 'w'. Both agree on "ab"; then plain proposes " www" (8 tokens for wide, one
        // more than wide has room for) and wide proposes " cd" (4 tokens). Before, wide's score failed in M3.
        ScriptedModel plain = model("plain", new CharCodec(CharCodec.Words.PRE_TOKENIZER), "ab www", 100);
        ScriptedModel wide = model("wide", new CharCodec(CharCodec.Words.PRE_TOKENIZER, "w"), "ab cd", 1 + 2 + 4);
        Generation g = fusion(plain, wide).generate("", FusionOptions.defaults());
        assertEquals("ab cd", g.text());
        assertEquals(FinishReason.END_OF_SEQUENCE, g.finish());
        StepTrace last = g.steps().get(g.steps().size() - 1);
        assertEquals(List.of(" cd"), last.candidates().stream().map(CandidateTrace::text).toList(),
                "' www' is not scored: it does not fit wide's context");
        assertEquals(0, plain.liveStates());
        assertEquals(0, wide.liveStates());

        // With one position less, wide's own proposal is cut at its context's end and ends the generation.
        wide.maxContext = 1 + 2 + 3;
        Generation cut = fusion(plain, wide).generate("", FusionOptions.defaults());
        assertEquals("ab cd", cut.text());
        assertEquals(FinishReason.LENGTH, cut.finish());
        assertEquals(0, wide.liveStates());
    }

    @Test
    void whenNoCandidateFitsEverySourceTheGenerationEndsAndEmitsWhatWasHeldBack() {
        // left spends two tokens on 'w', right on 'c': each one's second segment does not fit the other's context.
        ScriptedModel left = model("left", new CharCodec(CharCodec.Words.PRE_TOKENIZER, "w"), "ab cc", 1 + 2 + 4);
        ScriptedModel right = model("right", new CharCodec(CharCodec.Words.PRE_TOKENIZER, "c"), "ab ww", 1 + 2 + 4);
        List<String> streamed = new ArrayList<>();
        // "b" could start the stop string "b!", so it is held back after the first step.
        Generation g = fusion(left, right).generateFromTokens(List.of(List.of(CharCodec.BOS), List.of(CharCodec.BOS)),
                FusionOptions.builder().stopStrings(List.of("b!")).build(), step -> streamed.add(step.emitted()));
        assertEquals(FinishReason.LENGTH, g.finish());
        assertEquals("ab", g.text());
        assertEquals(List.of("a", "b"), streamed, "the held-back text is emitted by the last step");
        StepTrace last = g.steps().get(g.steps().size() - 1);
        CandidateTrace nothing = last.winningCandidate();
        assertEquals("", nothing.text());
        assertTrue(nothing.proposers().isEmpty());
        assertTrue(Double.isNaN(nothing.score()));
        assertEquals(List.of("left", "right"), nothing.logProbs().stream().map(m -> m.model()).toList());
        assertEquals(0, left.liveStates());
        assertEquals(0, right.liveStates());
    }

    @Test
    void theFailureThatEndedAGenerationIsReportedNotTheCleanUpsOne() {
        ScriptedModel cat = new ScriptedModel("cat", CharCodec.Words.PRE_TOKENIZER, SCRIPT, 0.9);
        ScriptedModel dog = new ScriptedModel("dog", CharCodec.Words.SPACES, SCRIPT, 0.6);
        dog.failOnNextToken = new IllegalStateException("worker died");
        dog.failOnRelease = new IllegalStateException("connection refused");
        FusionException e = assertThrows(FusionException.class, () -> fusion(cat, dog).generate("", FusionOptions.defaults()));
        assertEquals("source 'dog' failed in segment generation (T1): worker died", e.getMessage());
        assertEquals("worker died", e.getCause().getMessage());
        List<String> suppressed = Arrays.stream(e.getSuppressed()).map(Throwable::getMessage).toList();
        assertEquals(1, suppressed.size(), suppressed.toString());
        assertEquals("releasing the states of source 'dog' failed: connection refused", suppressed.get(0));
        assertEquals(0, cat.liveStates(), "the other source's states are still released");
        assertFalse(dog.liveStates() == 0, "dog could not release");
    }
}
