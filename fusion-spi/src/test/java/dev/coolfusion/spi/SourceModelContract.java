package dev.coolfusion.spi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What every {@link SourceModel} must do, whatever its backend: the persistence, consistency and lifecycle rules that
 * the fusion loop relies on. A backend's test extends this class and supplies a model and a prompt; tests here only
 * use the SPI. Every handle a test creates is released after it.
 */
public abstract class SourceModelContract {
    /** Log-probabilities computed along different paths (cached step, batched, one by one) agree within this. */
    protected static final double TOLERANCE = 1e-4;

    private final List<StateHandle> handles = new ArrayList<>();
    private OptionalInt before = OptionalInt.empty();

    /** The model under test; it stays open for the whole test class. */
    protected abstract SourceModel model();

    /** A prompt the model accepts, as token ids (begin-of-sequence included if the model uses one). */
    protected List<Integer> prompt() {
        return model().codec().encodePrompt("Question: Mia has 16 apples. She buys 7 more. How many now?\nAnswer:");
    }

    private StateHandle keep(StateHandle h) {
        handles.add(h);
        return h;
    }

    private StateHandle open() {
        return keep(model().open(prompt()));
    }

    private TokenStep step(StateHandle from, Decoding decoding) {
        TokenStep s = model().nextToken(from, decoding);
        keep(s.state());
        return s;
    }

    private List<ScoredTokens> score(StateHandle from, List<List<Integer>> candidates) {
        List<ScoredTokens> out = model().score(from, candidates);
        out.forEach(s -> keep(s.state()));
        return out;
    }

    /**
     * How many states the backend holds, where it can tell (for a remote model: on its server). When it can, the
     * contract also checks that release frees and that every test leaves the count where it found it.
     */
    protected OptionalInt liveStates() {
        return OptionalInt.empty();
    }

    @BeforeEach
    void clear() {
        handles.clear();
        before = liveStates();
    }

    @AfterEach
    void releaseAll() {
        model().release(handles);
        assertEquals(before, liveStates(), "states left behind");
    }

    @Test
    void statesArePersistentSoTheSameStepFromTheSameStateGivesTheSameToken() {
        StateHandle s = open();
        TokenStep first = step(s, Decoding.GREEDY);
        TokenStep again = step(s, Decoding.GREEDY);
        assertEquals(first.token(), again.token());
        assertEquals(first.logProb(), again.logProb(), TOLERANCE);
        assertNotEquals(first.state(), again.state(), "each step returns a new handle");
        // Extending one branch leaves the other intact.
        TokenStep deeper = step(first.state(), Decoding.GREEDY);
        assertEquals(deeper.token(), step(again.state(), Decoding.GREEDY).token());
    }

    @Test
    void aStepsLogProbIsWhatScoringThatTokenGives() {
        StateHandle s = open();
        TokenStep t = step(s, Decoding.GREEDY);
        assertTrue(t.logProb() <= 0 && Double.isFinite(t.logProb()), "log-prob " + t.logProb());
        ScoredTokens scored = score(s, List.of(List.of(t.token()))).get(0);
        assertEquals(1, scored.logProbs().size());
        assertEquals(t.logProb(), scored.logProbs().get(0), TOLERANCE);
    }

    @Test
    void batchedScoringEqualsOneByOneAndAnEmptyCandidateHasNoLogProbs() {
        StateHandle s = open();
        int a = step(s, Decoding.GREEDY).token();
        List<Integer> text = model().codec().encodeContinuation(" 16 + 7 = 23.").ids();
        List<List<Integer>> candidates = List.of(text, List.of(a), List.of(), text.subList(0, 2));
        List<ScoredTokens> batched = score(s, candidates);
        assertEquals(candidates.size(), batched.size());
        for (int c = 0; c < candidates.size(); c++) {
            List<Double> alone = score(s, List.of(candidates.get(c))).get(0).logProbs();
            assertEquals(candidates.get(c).size(), alone.size(), "candidate " + c + " alone");
            assertEquals(candidates.get(c).size(), batched.get(c).logProbs().size(), "candidate " + c);
            for (int i = 0; i < alone.size(); i++) {
                assertEquals(alone.get(i), batched.get(c).logProbs().get(i), TOLERANCE, "candidate " + c + " token " + i);
                assertTrue(alone.get(i) <= 0 && Double.isFinite(alone.get(i)));
            }
        }
        assertEquals(List.of(), batched.get(2).logProbs());
    }

    @Test
    void temperedNllWhereOfferedIsScoringAtTOneAndSharpensOrFlattensElsewhere() {
        StateHandle s = open();
        TokenStep greedy = step(s, Decoding.GREEDY);
        List<Integer> text = model().codec().encodeContinuation(" 16 + 7 = 23.").ids();
        double[] temperatures = {0.5, 1.0, 2.0};
        java.util.Optional<double[]> tempered = model().nllAtTemperatures(s, text, temperatures);
        Assumptions.assumeTrue(tempered.isPresent(),
                "this backend cannot rescale its distribution (calibration searches with a model per temperature)");
        assertEquals(temperatures.length, tempered.get().length);
        assertEquals(-score(s, List.of(text)).get(0).totalLogProb(), tempered.get()[1], TOLERANCE * text.size(),
                "T = 1 is what score gives");
        for (double v : tempered.get()) {
            assertTrue(v >= 0 && Double.isFinite(v), "an NLL is a finite non-negative number: " + v);
        }
        // The most likely token grows likelier as the distribution sharpens (T < 1) and less likely as it flattens.
        double[] argmax = model().nllAtTemperatures(s, List.of(greedy.token()), temperatures).orElseThrow();
        assertEquals(-greedy.logProb(), argmax[1], TOLERANCE);
        assertTrue(argmax[0] < argmax[1] && argmax[1] < argmax[2], "argmax NLL at T 0.5, 1, 2: "
                + java.util.Arrays.toString(argmax));
        assertArrayEquals(new double[temperatures.length], model().nllAtTemperatures(s, List.of(), temperatures)
                .orElseThrow(), 0.0, "no tokens, no NLL");
        // The state is untouched: stepping from it still gives what it gave.
        TokenStep again = step(s, Decoding.GREEDY);
        assertEquals(greedy.token(), again.token());
        assertEquals(greedy.logProb(), again.logProb(), TOLERANCE);
    }

    @Test
    void aScoredStateContinuesAsIfTheTokensHadBeenGenerated() {
        StateHandle s = open();
        // Generate a few tokens, then score the same tokens from the start: both end states continue alike.
        StateHandle generated = s;
        List<Integer> tokens = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            TokenStep t = step(generated, Decoding.GREEDY);
            tokens.add(t.token());
            generated = t.state();
        }
        ScoredTokens replayed = score(s, List.of(tokens)).get(0);
        TokenStep fromGenerated = step(generated, Decoding.GREEDY);
        TokenStep fromScored = step(replayed.state(), Decoding.GREEDY);
        assertEquals(fromGenerated.token(), fromScored.token());
        assertEquals(fromGenerated.logProb(), fromScored.logProb(), TOLERANCE);
        List<Integer> text = model().codec().encodeContinuation(" 16 + 7 = 23.").ids();
        ScoredTokens whole = score(s, List.of(text)).get(0);
        // Scoring the last token from the state after all but the last equals the whole candidate's last log-prob.
        ScoredTokens head = score(s, List.of(text.subList(0, text.size() - 1))).get(0);
        ScoredTokens tail = score(head.state(), List.of(text.subList(text.size() - 1, text.size()))).get(0);
        assertEquals(whole.logProbs().get(text.size() - 1), tail.logProbs().get(0), TOLERANCE);
        // A committed scored state is a state like any other: stepping from it is deterministic.
        model().commit(whole.state());
        assertEquals(step(whole.state(), Decoding.GREEDY).token(), step(tail.state(), Decoding.GREEDY).token());
    }

    @Test
    void commitAndReleaseKeepsTheCommittedStateAndFreesTheRest() {
        StateHandle s = model().open(prompt());
        TokenStep a = model().nextToken(s, Decoding.GREEDY);
        TokenStep b = model().nextToken(s, Decoding.GREEDY);
        // The fusion loop's M4: keep the winner, drop the old committed state and the losers.
        model().commitAndRelease(a.state(), List.of(s, b.state()));
        keep(a.state());
        if (before.isPresent()) {
            assertEquals(before.getAsInt() + 1, liveStates().getAsInt(), "only the committed state is left");
        }
        TokenStep after = step(a.state(), Decoding.GREEDY);
        assertTrue(after.logProb() <= 0 && Double.isFinite(after.logProb()));
        model().release(List.of(s, b.state())); // already released: a no-op
    }

    @Test
    void samplingIsAFunctionOfTheSuppliedDraw() {
        StateHandle s = open();
        for (double u : new double[] {0.0, 0.37, 0.999}) {
            Decoding d = new Decoding(1.0, 0.9, u);
            assertEquals(step(s, d).token(), step(s, d).token(), "draw " + u);
        }
        // The draw matters: with a flattened distribution, draws across [0, 1) pick different tokens.
        java.util.Set<Integer> drawn = new java.util.HashSet<>();
        for (double u : new double[] {0.001, 0.2, 0.4, 0.6, 0.8, 0.999}) {
            drawn.add(step(s, new Decoding(10.0, 1.0, u)).token());
        }
        assertTrue(drawn.size() > 1, "six draws at temperature 10 all gave " + drawn);
        // As the temperature goes to 0, sampling becomes greedy whatever the draw.
        TokenStep greedy = step(s, Decoding.GREEDY);
        TokenStep tiny = step(s, new Decoding(1e-4, 1.0, 0.5));
        assertEquals(greedy.token(), tiny.token(), "a near-zero temperature samples the argmax");
    }

    @Test
    void releasingTwiceOrReleasingUnknownHandlesIsANoOp() {
        StateHandle s = model().open(prompt());
        TokenStep t = model().nextToken(s, Decoding.GREEDY);
        model().release(List.of(t.state()));
        model().release(List.of(t.state()));
        model().release(List.of(new StateHandle("never-issued")));
        keep(s);
        assertEquals(t.token(), step(s, Decoding.GREEDY).token(), "releasing a child leaves its parent usable");
    }

    @Test
    void itsCodecRoundTripsTextThatFollowsAWordBoundary() {
        TextCodec codec = model().codec();
        String text = " 35 - 15 = 20. The answer is 20.";
        Encoded e = codec.encodeContinuation(text);
        assertEquals(text, e.text());
        assertEquals(text, codec.decodeContinuation(e.ids()));
        assertTrue(e.words().size() > 1, "words: " + e.words());
        for (int id : e.ids()) {
            assertTrue(!codec.isSpecial(id), "text token " + id + " is not special");
        }
        codec.primaryEndOfSequenceId().ifPresent(eos -> assertTrue(codec.isSpecial(eos), "end-of-sequence is special"));
    }
}
