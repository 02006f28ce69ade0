package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.segment.SegmentGenerator;
import dev.coolfusion.spi.Alignment;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.Sampling;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The {@code vllm} provider against a stand-in server that speaks vLLM's documented completions format, computed by
 * the bundled demo model A: the SPI contract, agreement with the model in process, a fusion, and errors.
 */
class VllmSourceModelTest {
    static DjlSourceModel localA;
    static DjlSourceModel localC;
    static FakeVllmServer server;
    static VllmSourceModel vllm;
    static final String TOKENIZER = TestModels.bundledDir("a").toString();

    @BeforeAll
    static void start() throws IOException {
        localA = TestModels.bundled("a", "A");
        localC = TestModels.bundled("c", "C");
        server = new FakeVllmServer(localA, "demo/model-a");
        vllm = (VllmSourceModel) create(Map.of("url", server.uri().toString(), "tokenizer", TOKENIZER, "name", "A"));
    }

    @AfterAll
    static void stop() {
        TestModels.closeAll(vllm, server, localA, localC);
    }

    static SourceModel create(Map<String, String> options) {
        return new VllmSourceModelProvider().create(ProviderConfig.of("vllm", options));
    }

    @Nested
    class Contract extends TestModels.ServedContract {
        @Override
        ServedSourceModel served() {
            return vllm;
        }
    }

    @Test
    void stepsAndScoresAgreeWithTheModelInProcess() {
        List<Integer> prompt = localA.codec().encodePrompt("Question: Omar buys 8 crates of books. Each one holds 11 books."
                + " How many books does he buy?\nAnswer:");
        assertEquals(localA.maxContextTokens(), vllm.maxContextTokens());
        StateHandle r = vllm.open(prompt);
        StateHandle l = localA.open(prompt);
        List<StateHandle> mine = new ArrayList<>(List.of(r));
        List<StateHandle> theirs = new ArrayList<>(List.of(l));
        for (int i = 0; i < 8; i++) {
            TokenStep rs = vllm.nextToken(r, Decoding.GREEDY);
            TokenStep ls = localA.nextToken(l, Decoding.GREEDY);
            assertEquals(ls.token(), rs.token(), "token " + i);
            assertEquals(ls.logProb(), rs.logProb(), 1e-4);
            mine.add(r = rs.state());
            theirs.add(l = ls.state());
        }
        List<List<Integer>> candidates = List.of(localA.codec().encodeContinuation(" 8 * 11 = 88.").ids(), List.of(),
                localA.codec().encodeContinuation(" 19.").ids());
        int before = server.completions.get();
        List<ScoredTokens> rs = vllm.score(mine.get(0), candidates);
        assertEquals(before + 1, server.completions.get(), "all candidates go in one request");
        List<ScoredTokens> ls = localA.score(theirs.get(0), candidates);
        TestModels.assertSameScores(ls, rs, theirs, mine);
        vllm.release(mine);
        localA.release(theirs);
    }

    @Test
    void aVllmModelFusesWithALocalOneAsTheLocalPairDoes() {
        FusionOptions options = FusionOptions.builder().maxNewTokens(40).stopStrings(List.of("\n\n")).build();
        String prompt = "Question: A shop had 30 cups. It sold 18 of them. How many cups are left in the shop?\nAnswer:";
        Generation local = CoolFusion.builder().addSource(localA).addSource(localC).build().generate(prompt, options);
        Generation mixed = CoolFusion.builder().addSource(vllm).addSource(localC).build().generate(prompt, options);
        assertTrue(local.steps().size() > 3, "a fusion of several steps: " + local.steps().size());
        assertEquals(local.text(), mixed.text());
        assertEquals(local.steps().size(), mixed.steps().size());
        for (int i = 0; i < local.steps().size(); i++) {
            assertEquals(local.steps().get(i).winningCandidate().proposers(), mixed.steps().get(i).winningCandidate()
                    .proposers(), "step " + i);
        }
        assertEquals(0, vllm.liveStates());
    }

    @Test
    void aSegmentIsOneRequestItsChunkIsLookAheadAndReplayedLookAheadNeedsNone() {
        List<Integer> prompt = localA.codec().encodePrompt("Question: Jack has 35 stamps. He gives away 15 of them."
                + " How many stamps does he have left?\nAnswer:");
        List<dev.coolfusion.spi.TextCodec> codecs = List.of(localA.codec(), localC.codec());
        StateHandle from = vllm.open(prompt);
        List<StateHandle> mine = new ArrayList<>(List.of(from));
        StateHandle local = localA.open(prompt);
        List<StateHandle> theirs = new ArrayList<>(List.of(local));
        try {
            int before = server.generations.get();
            ProposedSegment chunked = vllm.nextText(request(from, List.of(), codecs)).orElseThrow();
            chunked.steps().forEach(t -> mine.add(t.state()));
            ProposedSegment perToken = SegmentGenerator.propose(localA, request(local, List.of(), codecs));
            perToken.steps().forEach(t -> theirs.add(t.state()));
            assertEquals(before + 1, server.generations.get(), "one request for the segment");
            assertEquals(perToken.text(), chunked.text());
            assertEquals(perToken.segmentTokens(), chunked.segmentTokens());
            assertEquals(perToken.tokens(), chunked.tokens().subList(0, perToken.steps().size()));
            assertTrue(chunked.steps().size() > perToken.steps().size(), "the rest of the chunk comes as look-ahead: "
                    + chunked.steps().size() + " steps for a segment of " + perToken.steps().size());
            // The next step replays the look-ahead past the segment: T1 finds its segment there with no request, and
            // what it did not need comes back as look-ahead again.
            int used = chunked.segmentTokens();
            StateHandle won = chunked.steps().get(used - 1).state();
            List<TokenStep> ahead = chunked.steps().subList(used, chunked.steps().size());
            before = server.generations.get();
            ProposedSegment next = vllm.nextText(request(won, ahead, codecs)).orElseThrow();
            next.steps().forEach(t -> mine.add(t.state()));
            StateHandle localWon = localA.score(local, List.of(chunked.tokens().subList(0, used))).get(0).state();
            theirs.add(localWon);
            ProposedSegment expected = SegmentGenerator.propose(localA, request(localWon, List.of(), codecs));
            expected.steps().forEach(t -> theirs.add(t.state()));
            assertEquals(expected.text(), next.text());
            if (expected.steps().size() < ahead.size()) {
                assertEquals(before, server.generations.get(), "the look-ahead held the whole segment");
                assertEquals(ahead.size(), next.steps().size(), "unused look-ahead is kept");
            }
        } finally {
            vllm.release(mine);
            localA.release(theirs);
        }
    }

    private static SegmentRequest request(StateHandle from, List<TokenStep> ahead, List<dev.coolfusion.spi.TextCodec> codecs) {
        return new SegmentRequest(from, ahead, 400, codecs, 0, SegmentChoice.SHORTEST, Alignment.COMMON, 32,
                Sampling.greedy(0, 0));
    }

    @Test
    void aVllmModelOffersNoTemperedNllSoCalibrationSearchesInstead() {
        StateHandle s = vllm.open(vllm.codec().encodePrompt("Question: 2 + 3?\nAnswer:"));
        try {
            assertTrue(vllm.nllAtTemperatures(s, List.of(5), new double[] {0.5, 1}).isEmpty(),
                    "vLLM returns log-probs of chosen tokens only, not the distribution a temperature rescales");
        } finally {
            vllm.release(List.of(s));
        }
    }

    @Test
    void aServerErrorNamesTheServerTheCallAndItsMessage() {
        StateHandle s = vllm.open(List.of(5));
        try {
            List<Integer> tooLong = new ArrayList<>(java.util.Collections.nCopies(vllm.maxContextTokens().getAsInt(), 5));
            TestModels.assertMessage(() -> vllm.score(s, List.of(tooLong)), "vLLM server", "refused score on model"
                    + " 'demo/model-a'", "maximum context length");
        } finally {
            vllm.release(List.of(s));
        }
    }

    @Test
    void mistakesGetErrorsThatNameTheProblem() {
        String url = server.uri().toString();
        TestModels.assertMessage(() -> create(Map.of("url", url)), "needs option 'tokenizer'");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "model", "gpt-4")), "does not serve 'gpt-4'",
                "demo/model-a");
        String otherTokenizer = TestModels.bundledDir("b").toString();
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", otherTokenizer)), "does not match", "demo/model-a");
        TestModels.assertMessage(() -> vllm.nextToken(new StateHandle("nope"), Decoding.GREEDY), "unknown state");
        TestModels.assertMessage(() -> create(Map.of("url", "http://127.0.0.1:1", "tokenizer", TOKENIZER)), "cannot reach the vLLM server",
                "vllm serve");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "temperature", "0")), "does not know option");
    }
}
