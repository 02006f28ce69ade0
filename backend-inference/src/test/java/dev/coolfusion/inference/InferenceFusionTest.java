package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.ForwardingSourceModel;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A fusion of a vLLM-served model, an SGLang-served model and an in-process one gives exactly the in-process fusion of
 * the same three models, whether the servers are asked for chunks of tokens or one token per request; and chunks take
 * far fewer requests per step.
 */
class InferenceFusionTest {
    static DjlSourceModel localA;
    static DjlSourceModel localB;
    static DjlSourceModel localC;
    static FakeVllmServer vllmServer;
    static FakeSglangServer sglangServer;
    static FakeLlamaCppServer llamaServer;
    static final FusionOptions OPTIONS = FusionOptions.builder().maxNewTokens(40).stopStrings(List.of("\n\n")).build();
    static final List<String> PROMPTS = List.of(
            "Question: A shop had 30 cups. It sold 18 of them. How many cups are left in the shop?\nAnswer:",
            "Question: Omar buys 8 crates of books. Each one holds 11 books. How many books does he buy?\nAnswer:");

    @BeforeAll
    static void start() throws IOException {
        localA = TestModels.bundled("a", "A");
        localB = TestModels.bundled("b", "B");
        localC = TestModels.bundled("c", "C");
        vllmServer = new FakeVllmServer(localA, "demo/model-a");
        sglangServer = new FakeSglangServer(localB, "/models/demo-b");
        llamaServer = new FakeLlamaCppServer(localA);
    }

    @AfterAll
    static void stop() {
        TestModels.closeAll(vllmServer, sglangServer, llamaServer, localA, localB, localC);
    }

    private static SourceModel vllm(int chunkTokens) {
        return new VllmSourceModelProvider().create(ProviderConfig.of("vllm", Map.of("url", vllmServer.uri().toString(),
                "tokenizer", TestModels.bundledDir("a").toString(), "name", "A", "chunk-tokens", "" + chunkTokens)));
    }

    private static SourceModel sglang(int chunkTokens) {
        return new SglangSourceModelProvider().create(ProviderConfig.of("sglang", Map.of("url",
                sglangServer.uri().toString(), "tokenizer", TestModels.bundledDir("b").toString(), "name", "B",
                "chunk-tokens", "" + chunkTokens)));
    }

    /** The requests the fused generations of {@link #PROMPTS} sent, by server and kind, and their steps. */
    private record Counts(int steps, int vllmGenerations, int vllmScorings, int sglangGenerations, int sglangScorings,
            int vllmTokens, int sglangTokens) {
        String perStep() {
            return String.format(Locale.ROOT, "vLLM %.2f generation + %.2f scoring, SGLang %.2f generation + %.2f scoring"
                    + " requests per step; tokens generated per step: vLLM %.2f, SGLang %.2f (%d steps)",
                    vllmGenerations / (double) steps, vllmScorings / (double) steps, sglangGenerations / (double) steps,
                    sglangScorings / (double) steps, vllmTokens / (double) steps, sglangTokens / (double) steps, steps);
        }
    }

    private static Counts fuse(int chunkTokens, List<Generation> expected) {
        int steps = 0;
        int vg;
        int vs;
        int sg;
        int ss;
        int vt;
        int st;
        try (SourceModel a = vllm(chunkTokens); SourceModel b = sglang(chunkTokens)) {
            // counted after creation, whose probes are requests too
            vg = vllmServer.generations.get();
            vs = vllmServer.scorings.get();
            sg = sglangServer.generateRequests.get();
            ss = sglangServer.scoreRequests.get();
            vt = vllmServer.generatedTokens.get();
            st = sglangServer.generatedTokens.get();
            CoolFusion fusion = CoolFusion.builder().addSource(a).addSource(b).addSource(localC).build();
            for (int p = 0; p < PROMPTS.size(); p++) {
                Generation served = fusion.generate(PROMPTS.get(p), OPTIONS);
                Generation local = expected.get(p);
                assertEquals(local.text(), served.text(), "prompt " + p + ", chunk-tokens " + chunkTokens);
                assertEquals(local.steps().size(), served.steps().size());
                for (int i = 0; i < local.steps().size(); i++) {
                    assertEquals(local.steps().get(i).winningCandidate().proposers(),
                            served.steps().get(i).winningCandidate().proposers(), "prompt " + p + " step " + i);
                }
                steps += served.steps().size();
            }
            assertEquals(0, ((VllmSourceModel) a).liveStates(), "vLLM states left behind");
            assertEquals(0, ((SglangSourceModel) b).liveStates(), "SGLang states left behind");
        }
        return new Counts(steps, vllmServer.generations.get() - vg, vllmServer.scorings.get() - vs,
                sglangServer.generateRequests.get() - sg, sglangServer.scoreRequests.get() - ss,
                vllmServer.generatedTokens.get() - vt, sglangServer.generatedTokens.get() - st);
    }

    @Test
    void servedSourcesFuseAsTheInProcessModelsDoAndChunksSaveRequests() {
        CoolFusion inProcess = CoolFusion.builder().addSource(localA).addSource(localB).addSource(localC).build();
        List<Generation> expected = PROMPTS.stream().map(p -> inProcess.generate(p, OPTIONS)).toList();
        assertTrue(expected.get(0).steps().size() > 3, "a fusion of several steps: " + expected.get(0).steps().size());
        Counts perToken = fuse(1, expected);
        Counts chunked = fuse(VllmSourceModelProvider.DEFAULT_CHUNK_TOKENS, expected);
        Counts long32 = fuse(32, expected);
        System.out.println("one token per request: " + perToken.perStep());
        System.out.println("chunks of " + VllmSourceModelProvider.DEFAULT_CHUNK_TOKENS + " (default): " + chunked.perStep());
        System.out.println("chunks of 32: " + long32.perStep());
        for (Counts c : List.of(chunked, long32)) {
            assertEquals(perToken.steps(), c.steps());
            assertTrue(c.vllmGenerations() <= c.steps(), "at most one vLLM generation request per step: " + c.perStep());
            assertTrue(c.sglangGenerations() <= c.steps(), "at most one SGLang generation request per step: "
                    + c.perStep());
            assertTrue(perToken.vllmGenerations() > 2 * c.vllmGenerations(), perToken.perStep() + " against "
                    + c.perStep());
            assertEquals(perToken.vllmScorings(), c.vllmScorings(), "scoring is one request per step either way");
            assertTrue(c.vllmScorings() <= c.steps(), "one vLLM scoring request per step at most");
        }
    }

    /**
     * A llama.cpp server can propose but not score: as a proposer-only source it fuses exactly as the same model in
     * process restricted to proposing, the metric averages over the two sources that score, and every candidate's
     * trace names only those.
     */
    @Test
    void aProposerOnlyServerFusesAsTheSameModelThatOnlyProposes() {
        SourceModel onlyProposing = new ProposerOnly(localA);
        CoolFusion inProcess = CoolFusion.builder().addSource(onlyProposing).addSource(localB).addSource(localC).build();
        try (SourceModel llama = new LlamaCppSourceModelProvider().create(ProviderConfig.of("llama-cpp", Map.of(
                "url", llamaServer.uri().toString(), "tokenizer", TestModels.bundledDir("a").toString(), "name", "A")))) {
            CoolFusion served = CoolFusion.builder().addSource(llama).addSource(localB).addSource(localC).build();
            int proposedByA = 0;
            for (String prompt : PROMPTS) {
                Generation expected = inProcess.generate(prompt, OPTIONS);
                Generation actual = served.generate(prompt, OPTIONS);
                assertEquals(expected.text(), actual.text());
                assertEquals(expected.steps().size(), actual.steps().size());
                for (int i = 0; i < actual.steps().size(); i++) {
                    var step = actual.steps().get(i);
                    assertEquals(expected.steps().get(i).winningCandidate().proposers(),
                            step.winningCandidate().proposers(), "step " + i);
                    for (var candidate : step.candidates()) {
                        assertEquals(List.of("B", "C"), candidate.scorers(), "step " + i);
                        proposedByA += candidate.proposers().contains("A") ? 1 : 0;
                    }
                }
            }
            assertTrue(proposedByA > 0, "the proposer-only source took part");
            assertEquals(0, ((LlamaCppSourceModel) llama).liveStates(), "llama.cpp states left behind");
        }
    }

    /** An in-process model that proposes but does not score, the reference for a proposer-only server. */
    private static final class ProposerOnly extends ForwardingSourceModel {
        ProposerOnly(SourceModel model) {
            super(model);
        }

        @Override
        public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
            throw new AssertionError("a proposer-only source was asked to score");
        }

        @Override
        public boolean canScore() {
            return false;
        }

        @Override
        public StateHandle append(StateHandle state, List<Integer> tokens) {
            return delegate().score(state, List.of(tokens)).get(0).state();
        }
    }
}
