package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The {@code llama-cpp} provider, a proposer-only source, against a stand-in for {@code llama-server}'s
 * {@code /completion} (token ids in, ids and log-probs out), computed by the bundled demo model C: exact proposals
 * and steps, {@code append} without a request, no scoring, errors.
 */
class LlamaCppSourceModelTest {
    static DjlSourceModel localA;
    static DjlSourceModel localC;
    static FakeLlamaCppServer server;
    static LlamaCppSourceModel llama;
    static final String TOKENIZER = TestModels.bundledDir("c").toString();
    static final String PROMPT = "Question: Jack has 35 stamps. He gives away 15 of them. How many are left?\nAnswer:";

    @BeforeAll
    static void start() throws IOException {
        localA = TestModels.bundled("a", "A");
        localC = TestModels.bundled("c", "C");
        server = new FakeLlamaCppServer(localC);
        llama = (LlamaCppSourceModel) create(Map.of("url", server.uri().toString(), "tokenizer", TOKENIZER, "name", "C"));
    }

    @AfterAll
    static void stop() {
        TestModels.closeAll(llama, server, localA, localC);
    }

    static SourceModel create(Map<String, String> options) {
        return new LlamaCppSourceModelProvider().create(ProviderConfig.of("llama-cpp", options));
    }

    private static SegmentRequest request(StateHandle from, List<TokenStep> ahead) {
        List<TextCodec> codecs = List.of(localA.codec(), localC.codec());
        return new SegmentRequest(from, ahead, 400, codecs, 1, SegmentChoice.SHORTEST, Alignment.COMMON, 32,
                Sampling.greedy(0, 1));
    }

    @Test
    void proposalsAreExactlyTheModelsAndAppendSendsNothing() {
        assertFalse(llama.canScore());
        assertEquals(localC.maxContextTokens(), llama.maxContextTokens(), "n_ctx from /props");
        List<Integer> prompt = localC.codec().encodePrompt(PROMPT);
        StateHandle mine = llama.open(prompt);
        StateHandle theirs = localC.open(prompt);
        List<StateHandle> held = new ArrayList<>(List.of(mine));
        List<StateHandle> local = new ArrayList<>(List.of(theirs));
        try {
            TokenStep step = llama.nextToken(mine, Decoding.GREEDY);
            held.add(step.state());
            TokenStep expectedStep = localC.nextToken(theirs, Decoding.GREEDY);
            local.add(expectedStep.state());
            assertEquals(expectedStep.token(), step.token());
            assertEquals(expectedStep.logProb(), step.logProb(), 1e-4);
            for (int s = 0; s < 5; s++) {
                int requests = server.completionRequests.get();
                ProposedSegment remote = llama.nextText(request(mine, List.of())).orElseThrow();
                remote.steps().forEach(t -> held.add(t.state()));
                ProposedSegment inProcess = SegmentGenerator.propose(localC, request(theirs, List.of()));
                inProcess.steps().forEach(t -> local.add(t.state()));
                assertEquals(1, server.completionRequests.get() - requests, "one request per segment");
                assertEquals(inProcess.text(), remote.text(), "step " + s);
                assertEquals(inProcess.tokens(), remote.tokens().subList(0, inProcess.steps().size()));
                for (int i = 0; i < inProcess.steps().size(); i++) {
                    assertEquals(inProcess.steps().get(i).logProb(), remote.steps().get(i).logProb(), 1e-4);
                }
                if (inProcess.endOfSequence()) {
                    break;
                }
                List<Integer> won = inProcess.tokens().subList(0, inProcess.segmentTokens());
                requests = server.completionRequests.get();
                mine = llama.append(mine, won);
                held.add(mine);
                assertEquals(requests, server.completionRequests.get(), "append sends nothing");
                theirs = localC.score(theirs, List.of(won)).get(0).state();
                local.add(theirs);
            }
            StateHandle last = mine;
            TestModels.assertMessage(() -> llama.score(last, List.of(List.of(5))), "cannot score", "llama-server",
                    "vLLM or SGLang");
        } finally {
            llama.release(held);
            localC.release(local);
        }
        assertEquals(0, llama.liveStates());
    }

    @Test
    void samplingIsAFunctionOfTheSuppliedDraw() {
        StateHandle s = llama.open(localC.codec().encodePrompt(PROMPT));
        List<StateHandle> held = new ArrayList<>(List.of(s));
        try {
            Set<Integer> drawn = new HashSet<>();
            for (double u : new double[] {0.001, 0.2, 0.4, 0.6, 0.8, 0.999}) {
                Decoding d = new Decoding(10.0, 1.0, u);
                TokenStep a = llama.nextToken(s, d);
                TokenStep b = llama.nextToken(s, d);
                held.add(a.state());
                held.add(b.state());
                assertEquals(a.token(), b.token(), "draw " + u);
                drawn.add(a.token());
            }
            assertTrue(drawn.size() > 1, "six draws at temperature 10 all gave " + drawn);
        } finally {
            llama.release(held);
        }
    }

    @Test
    void mistakesGetErrorsThatNameTheProblem() {
        String url = server.uri().toString();
        TestModels.assertMessage(() -> create(Map.of("url", url)), "needs option 'tokenizer'");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TestModels.bundledDir("b").toString())),
                "does not match", "/models/demo-c.gguf");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "chunk-tokens", "-1")),
                "'chunk-tokens' must be at least 1");
        TestModels.assertMessage(() -> create(Map.of("url", "http://127.0.0.1:1", "tokenizer", TOKENIZER)),
                "cannot reach the llama.cpp server", "llama-server -m");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "n_probs", "1")),
                "does not know option");
        TestModels.assertMessage(() -> llama.nextToken(new dev.coolfusion.spi.StateHandle("x"), Decoding.GREEDY),
                "unknown state");
    }
}
