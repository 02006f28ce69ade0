package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.Decoding;
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
 * The {@code sglang} provider against a stand-in that speaks SGLang's native {@code /generate} format, computed by the
 * bundled demo model B: the SPI contract, agreement with the model in process, one request per scoring, and errors.
 */
class SglangSourceModelTest {
    static DjlSourceModel localB;
    static FakeSglangServer server;
    static SglangSourceModel sglang;
    static final String TOKENIZER = TestModels.bundledDir("b").toString();

    @BeforeAll
    static void start() throws IOException {
        localB = TestModels.bundled("b", "B");
        server = new FakeSglangServer(localB, "/models/demo-b");
        sglang = (SglangSourceModel) create(Map.of("url", server.uri().toString(), "tokenizer", TOKENIZER, "name", "B"));
    }

    @AfterAll
    static void stop() {
        TestModels.closeAll(sglang, server, localB);
    }

    static SourceModel create(Map<String, String> options) {
        return new SglangSourceModelProvider().create(ProviderConfig.of("sglang", options));
    }

    @Nested
    class Contract extends TestModels.ServedContract {
        @Override
        ServedSourceModel served() {
            return sglang;
        }
    }

    @Test
    void stepsAndScoresAgreeWithTheModelInProcessAndScoringIsOneRequestThatReusesThePrompt() {
        List<Integer> prompt = localB.codec().encodePrompt("Question: Omar buys 8 crates of books. Each one holds 11 books."
                + " How many books does he buy?\nAnswer:");
        assertEquals(localB.maxContextTokens(), sglang.maxContextTokens(), "max_model_len from /v1/models");
        StateHandle r = sglang.open(prompt);
        StateHandle l = localB.open(prompt);
        List<StateHandle> mine = new ArrayList<>(List.of(r));
        List<StateHandle> theirs = new ArrayList<>(List.of(l));
        for (int i = 0; i < 6; i++) {
            long cached = server.cachedTokens.get();
            TokenStep rs = sglang.nextToken(r, Decoding.GREEDY);
            if (i > 0) {
                assertEquals(prompt.size() + i - 1, server.cachedTokens.get() - cached,
                        "a generation request gets all its input but the last token from the radix cache");
            }
            TokenStep ls = localB.nextToken(l, Decoding.GREEDY);
            assertEquals(ls.token(), rs.token(), "token " + i);
            assertEquals(ls.logProb(), rs.logProb(), 1e-4);
            mine.add(r = rs.state());
            theirs.add(l = ls.state());
        }
        List<List<Integer>> candidates = List.of(localB.codec().encodeContinuation(" 8 * 11 = 88.").ids(), List.of(),
                localB.codec().encodeContinuation(" 19.").ids());
        int before = server.scoreRequests.get();
        int sequences = server.scoredSequences.get();
        long cachedBefore = server.cachedTokens.get();
        List<ScoredTokens> rs = sglang.score(mine.get(0), candidates);
        assertEquals(before + 1, server.scoreRequests.get(), "all candidates go in one request");
        assertEquals(sequences + 2, server.scoredSequences.get(), "a batch of the two non-empty candidates");
        assertEquals(2L * (prompt.size() - 1), server.cachedTokens.get() - cachedBefore,
                "the radix cache supplies each candidate's prompt but its last token (logprob_start_len caps it)");
        List<ScoredTokens> ls = localB.score(theirs.get(0), candidates);
        TestModels.assertSameScores(ls, rs, theirs, mine);
        sglang.release(mine);
        localB.release(theirs);
    }

    @Test
    void mistakesGetErrorsThatNameTheProblem() {
        String url = server.uri().toString();
        TestModels.assertMessage(() -> create(Map.of("url", url)), "needs option 'tokenizer'");
        TestModels.assertMessage(() -> create(Map.of("tokenizer", TOKENIZER)), "needs option 'url'");
        TestModels.assertMessage(() -> create(Map.of("url", "localhost:30000", "tokenizer", TOKENIZER)), "option 'url'",
                "http://host:port");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "timeout-seconds", "0")),
                "'timeout-seconds' must be at least 1");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "timeout-seconds", "soon")),
                "'timeout-seconds' must be an integer");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "chunk-tokens", "0")),
                "'chunk-tokens' must be at least 1");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "model", "gpt-4")),
                "does not serve 'gpt-4'", "/models/demo-b");
        String otherTokenizer = TestModels.bundledDir("a").toString();
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", otherTokenizer)), "does not match",
                "/models/demo-b");
        TestModels.assertMessage(() -> sglang.nextToken(new StateHandle("nope"), Decoding.GREEDY), "unknown state");
        TestModels.assertMessage(() -> create(Map.of("url", "http://127.0.0.1:1", "tokenizer", TOKENIZER)),
                "cannot reach the SGLang server", "sglang.launch_server");
        TestModels.assertMessage(() -> create(Map.of("url", url, "tokenizer", TOKENIZER, "temperature", "0")),
                "does not know option", "chunk-tokens");
        assertTrue(new SglangSourceModelProvider().description().contains("chunk-tokens"));
    }

    @Test
    void aServerErrorNamesTheServerAndTheCall() {
        StateHandle s = sglang.open(List.of(5));
        try {
            // Past the served context: the stand-in refuses as SGLang does, with its message.
            List<Integer> tooLong = new ArrayList<>();
            for (int i = 0; i < sglang.maxContextTokens().getAsInt() + 1; i++) {
                tooLong.add(5);
            }
            TestModels.assertMessage(() -> sglang.score(s, List.of(tooLong)), "SGLang server", "refused score",
                    "maximum context length");
        } finally {
            sglang.release(List.of(s));
        }
    }
}
