package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.segment.SegmentGenerator;
import dev.coolfusion.spi.Alignment;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.Sampling;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@code ollama} provider, a proposer-only source, against a stand-in that speaks Ollama's {@code /api/generate}
 * (raw text in, text and log-probs out), computed by the bundled demo model A: the part of the SPI contract a source
 * that cannot score keeps, T1 proposals equal to the model's in process, {@code append} without a request, errors.
 */
class OllamaSourceModelTest {
    static DjlSourceModel localA;
    static DjlSourceModel localC;
    static FakeOllamaServer server;
    static OllamaSourceModel ollama;
    static final String TOKENIZER = TestModels.bundledDir("a").toString();
    static final String PROMPT = "Question: A shop had 30 cups. It sold 18 of them. How many cups are left?\nAnswer:";

    private final List<StateHandle> handles = new ArrayList<>();
    private int before;

    @BeforeAll
    static void start() throws IOException {
        localA = TestModels.bundled("a", "A");
        localC = TestModels.bundled("c", "C");
        server = new FakeOllamaServer(localA, "demo-a:latest");
        ollama = (OllamaSourceModel) create(Map.of("url", server.uri().toString(), "model", "demo-a", "tokenizer",
                TOKENIZER, "name", "A", "num-ctx", "512"));
    }

    @AfterAll
    static void stop() {
        TestModels.closeAll(ollama, server, localA, localC);
    }

    static SourceModel create(Map<String, String> options) {
        return new OllamaSourceModelProvider().create(ProviderConfig.of("ollama", options));
    }

    @BeforeEach
    void count() {
        handles.clear();
        before = ollama.liveStates();
    }

    @AfterEach
    void releaseAll() {
        ollama.release(handles);
        assertEquals(before, ollama.liveStates(), "states left behind");
    }

    private StateHandle keep(StateHandle h) {
        handles.add(h);
        return h;
    }

    private static SegmentRequest request(StateHandle from, int step, int room) {
        List<TextCodec> codecs = List.of(localA.codec(), localC.codec());
        return new SegmentRequest(from, List.of(), room, codecs, 0, SegmentChoice.SHORTEST, Alignment.COMMON, 32,
                Sampling.greedy(step, 0));
    }

    @Test
    void itProposesButCannotScore() {
        assertFalse(ollama.canScore());
        StateHandle s = keep(ollama.open(localA.codec().encodePrompt(PROMPT)));
        TestModels.assertMessage(() -> ollama.score(s, List.of(List.of(5))), "cannot score", "Ollama", "vLLM or SGLang");
        assertEquals(512, ollama.maxContextTokens().getAsInt(), "num-ctx is the context limit");
    }

    @Test
    void greedyStepsAreTheModelsAndStatesArePersistent() {
        List<Integer> prompt = localA.codec().encodePrompt(PROMPT);
        StateHandle s = keep(ollama.open(prompt));
        StateHandle l = localA.open(prompt);
        List<StateHandle> theirs = new ArrayList<>(List.of(l));
        try {
            TokenStep first = ollama.nextToken(s, Decoding.GREEDY);
            keep(first.state());
            TokenStep again = ollama.nextToken(s, Decoding.GREEDY);
            keep(again.state());
            TokenStep local = localA.nextToken(l, Decoding.GREEDY);
            theirs.add(local.state());
            assertEquals(local.token(), first.token());
            assertEquals(first.token(), again.token());
            assertNotEquals(first.state(), again.state(), "each step returns a new handle");
            assertEquals(local.logProb(), first.logProb(), 1e-4, "Ollama's log-prob where its piece is one local token");
        } finally {
            localA.release(theirs);
        }
    }

    @Test
    void segmentsAreWhatTheModelProposesInProcessAndTheRestOfAChunkIsLookAhead() {
        List<Integer> prompt = localA.codec().encodePrompt(PROMPT);
        StateHandle mine = keep(ollama.open(prompt));
        StateHandle theirs = localA.open(prompt);
        List<StateHandle> local = new ArrayList<>(List.of(theirs));
        try {
            for (int step = 0; step < 5; step++) {
                int requests = server.generateRequests.get();
                ProposedSegment remote = ollama.nextText(request(mine, step, 400)).orElseThrow();
                ProposedSegment inProcess = SegmentGenerator.propose(localA, request(theirs, step, 400));
                remote.steps().forEach(t -> keep(t.state()));
                inProcess.steps().forEach(t -> local.add(t.state()));
                assertEquals(inProcess.text(), remote.text(), "step " + step);
                assertEquals(inProcess.endOfSequence(), remote.endOfSequence());
                assertEquals(1, server.generateRequests.get() - requests, "one chunk per segment");
                assertTrue(remote.steps().size() >= inProcess.steps().size(), "the chunk's tokens past T1 come along");
                assertEquals(inProcess.tokens(), remote.tokens().subList(0, inProcess.steps().size()));
                if (inProcess.endOfSequence()) {
                    break;
                }
                // M4 as the fusion does it for a source that cannot score: append the winner's tokens, no request.
                List<Integer> won = localA.codec().encodeContinuation(inProcess.text()).ids();
                requests = server.generateRequests.get();
                mine = keep(ollama.append(mine, won));
                assertEquals(requests, server.generateRequests.get(), "append sends nothing");
                theirs = localA.score(theirs, List.of(won)).get(0).state();
                local.add(theirs);
            }
        } finally {
            localA.release(local);
        }
    }

    @Test
    void samplingIsAFunctionOfTheSuppliedDraw() {
        StateHandle s = keep(ollama.open(localA.codec().encodePrompt(PROMPT)));
        for (double u : new double[] {0.0, 0.37, 0.999}) {
            Decoding d = new Decoding(1.0, 0.9, u);
            assertEquals(keepStep(s, d).token(), keepStep(s, d).token(), "draw " + u);
        }
        Set<Integer> drawn = new HashSet<>();
        for (double u : new double[] {0.001, 0.2, 0.4, 0.6, 0.8, 0.999}) {
            drawn.add(keepStep(s, new Decoding(10.0, 1.0, u)).token());
        }
        assertTrue(drawn.size() > 1, "six draws at temperature 10 all gave " + drawn);
    }

    private TokenStep keepStep(StateHandle s, Decoding d) {
        TokenStep t = ollama.nextToken(s, d);
        keep(t.state());
        return t;
    }

    @Test
    void thePromptGoesAsTextWithoutTheBeginOfSequenceToken() {
        int at = server.prompts.size();
        StateHandle s = keep(ollama.open(localA.codec().encodePrompt(PROMPT)));
        keep(ollama.nextToken(s, Decoding.GREEDY).state());
        assertEquals(PROMPT, server.prompts.get(at));
        List<Integer> withSpecial = new ArrayList<>(localA.codec().encodePrompt("Question:"));
        withSpecial.add(localA.codec().primaryEndOfSequenceId().getAsInt());
        withSpecial.addAll(localA.codec().encodeContinuation(" Next").ids());
        assertEquals("Question:</s> Next", ollama.promptText(withSpecial), "special tokens by name");
    }

    @Test
    void releaseFreesAndUnknownStatesAreNamed() {
        StateHandle s = ollama.open(localA.codec().encodePrompt(PROMPT));
        StateHandle t = ollama.append(s, List.of(5, 6));
        assertEquals(before + 2, ollama.liveStates());
        ollama.release(List.of(s, t));
        ollama.release(List.of(s, new StateHandle("never-issued")));
        TestModels.assertMessage(() -> ollama.nextToken(t, Decoding.GREEDY), "unknown state");
    }

    @Test
    void mistakesGetErrorsThatNameTheProblem() {
        String url = server.uri().toString();
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER)), "needs option 'model'");
        TestModels.assertMessage(() -> create(Map.of("url", url, "model", "demo-a")), "needs option 'tokenizer'");
        TestModels.assertMessage(() -> create(Map.of("url", url, "model", "llama3", "tokenizer", TOKENIZER)),
                "has no model 'llama3'", "demo-a:latest", "ollama pull llama3");
        TestModels.assertMessage(() -> create(Map.of("url", url, "model", "demo-a", "tokenizer", TOKENIZER, "num-ctx",
                "1")), "'num-ctx' must be at least 2");
        TestModels.assertMessage(() -> create(Map.of("url", url, "model", "demo-a", "tokenizer", TOKENIZER,
                "timeout-seconds", "-3")), "'timeout-seconds' must be at least 1");
        TestModels.assertMessage(() -> create(Map.of("url", "http://127.0.0.1:1", "model", "demo-a", "tokenizer",
                TOKENIZER)), "cannot reach the Ollama server", "ollama serve");
        TestModels.assertMessage(() -> create(Map.of("url", url, "model", "demo-a", "tokenizer", TOKENIZER, "raw",
                "true")), "does not know option", "num-ctx");
        StateHandle s = keep(ollama.open(localA.codec().encodePrompt(PROMPT)));
        List<Integer> tooLong = new ArrayList<>();
        for (int i = 0; i < 600; i++) {
            tooLong.add(5);
        }
        TestModels.assertMessage(() -> ollama.open(tooLong), "num-ctx", "512");
        assertTrue(ollama.toString().contains("proposer only"));
        assertTrue(s != null);
    }
}
