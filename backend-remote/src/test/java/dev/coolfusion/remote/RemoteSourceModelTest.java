package dev.coolfusion.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CandidateTrace;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.atomic.AtomicLong;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Table-1 protocol end to end on loopback: two of the bundled demo models (real DJL models with different real
 * tokenizers) served by a {@link TableOneServer} over gRPC and used through the {@code remote} provider give exactly what
 * the same models give in process, one call at a time and fused through the core loop.
 */
class RemoteSourceModelTest {
    static DjlSourceModel localA;
    static DjlSourceModel localC;
    static TableOneServer server;

    /** The folder of a bundled demo model ({@code a}, {@code b} or {@code c}). */
    static Path bundledDir(String dir) {
        return Path.of("..", "models", dir).toAbsolutePath().normalize();
    }

    static DjlSourceModel bundled(String dir, String name) {
        Path folder = bundledDir(dir);
        assertTrue(Files.isRegularFile(folder.resolve("config.json")), "bundled demo model missing at " + folder);
        // Without the prefix cache: the remote and the local side open the same prompt on this one model, and with
        // reuse the second would decode beside the first's store, equal only to float rounding, not bit for bit.
        return DjlSourceModel.load(folder, DjlModelOptions.builder().name(name).prefixCacheMb(0).build());
    }

    @BeforeAll
    static void serve() {
        localA = bundled("a", "A");
        localC = bundled("c", "C");
        server = TableOneServer.builder().model(localA).model(localC).build().start();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (localA != null) {
            localA.close();
        }
        if (localC != null) {
            localC.close();
        }
    }

    static SourceModel remote(String model, String name) {
        return new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                Map.of("url", server.uri().toString(), "model", model, "name", name)));
    }

    @Test
    void everyTableOneCallAnswersAsTheLocalModelDoes() {
        SourceModel remote = remote("C", "C-remote");
        assertEquals("C-remote", remote.name());
        assertEquals(localC.maxContextTokens(), remote.maxContextTokens());
        assertEquals(localC.codec().endOfSequenceIds(), remote.codec().endOfSequenceIds());
        assertEquals(localC.codec().beginOfSequenceId(), remote.codec().beginOfSequenceId());
        String prompt = "Question: Max has 18 shells and buys 7 packs of 5. How many shells does he have?\nAnswer:";
        List<Integer> tokens = remote.codec().encodePrompt(prompt);
        assertEquals(localC.codec().encodePrompt(prompt), tokens);
        Encoded words = remote.codec().encodeContinuation(" 7 * 5 = 35.");
        assertEquals(localC.codec().encodeContinuation(" 7 * 5 = 35."), words);

        StateHandle r = remote.open(tokens);
        StateHandle l = localC.open(tokens);
        List<StateHandle> remoteStates = new ArrayList<>(List.of(r));
        List<StateHandle> localStates = new ArrayList<>(List.of(l));
        List<Integer> generated = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            TokenStep rs = remote.nextToken(r, Decoding.GREEDY);
            TokenStep ls = localC.nextToken(l, Decoding.GREEDY);
            assertEquals(ls.token(), rs.token(), "token " + i);
            assertEquals(ls.logProb(), rs.logProb(), 0.0, "log-probs cross the wire exactly");
            generated.add(rs.token());
            r = rs.state();
            l = ls.state();
            remoteStates.add(r);
            localStates.add(l);
        }
        assertEquals(localC.codec().decodeContinuation(generated), remote.codec().decodeContinuation(generated));
        assertEquals(localC.codec().decode(generated), remote.codec().decode(generated));
        for (int id : generated) {
            assertEquals(localC.codec().isSpecial(id), remote.codec().isSpecial(id));
        }
        assertTrue(remote.codec().isSpecial(remote.codec().primaryEndOfSequenceId().orElseThrow()));

        List<List<Integer>> candidates = List.of(words.ids(), remote.codec().encodeContinuation(" 53.").ids(), List.of());
        List<ScoredTokens> rScored = remote.score(remoteStates.get(0), candidates);
        List<ScoredTokens> lScored = localC.score(localStates.get(0), candidates);
        for (int c = 0; c < candidates.size(); c++) {
            assertEquals(lScored.get(c).logProbs(), rScored.get(c).logProbs(), "candidate " + c);
            remoteStates.add(rScored.get(c).state());
            localStates.add(lScored.get(c).state());
        }
        double[] temperatures = {0.5, 1, 3};
        assertArrayEquals(localC.nllAtTemperatures(localStates.get(0), words.ids(), temperatures).orElseThrow(),
                remote.nllAtTemperatures(remoteStates.get(0), words.ids(), temperatures).orElseThrow(), 0.0,
                "tempered NLLs (calibration) cross the wire exactly");
        // A scored state can be committed and extended, as the fusion loop does after a step.
        remote.commit(rScored.get(0).state());
        localC.commit(lScored.get(0).state());
        TokenStep localNext = localC.nextToken(lScored.get(0).state(), Decoding.GREEDY);
        TokenStep remoteNext = remote.nextToken(rScored.get(0).state(), Decoding.GREEDY);
        assertEquals(localNext.token(), remoteNext.token());
        remoteStates.add(remoteNext.state());
        localStates.add(localNext.state());

        // Every state handed out is tracked on the server until the client releases it.
        assertEquals(remoteStates.size(), server.liveStates("C"));
        remote.release(remoteStates);
        localC.release(localStates);
        assertEquals(0, server.liveStates("C"));
    }

    @Test
    void fusionOverTheNetworkEqualsFusionInProcess() {
        FusionOptions options = FusionOptions.builder().maxNewTokens(40).stopStrings(List.of("\n\n")).build();
        String prompt = "Question: Omar buys 8 crates of books. Each one holds 11 books. How many books does he buy?\n"
                + "Answer:";
        int liveA = localA.liveStates();
        int liveC = localC.liveStates();
        Generation local = CoolFusion.builder().addSource(localA).addSource(localC).build().generate(prompt, options);
        SourceModel remoteA = remote("A", "A");
        SourceModel remoteC = remote("C", "C");
        Generation remote = CoolFusion.builder().addSource(remoteA).addSource(remoteC).build().generate(prompt, options);
        assertEquals(local.text(), remote.text());
        assertEquals(local.finish(), remote.finish());
        assertEquals(local.steps().size(), remote.steps().size());
        for (int i = 0; i < local.steps().size(); i++) {
            StepTrace a = local.steps().get(i);
            StepTrace b = remote.steps().get(i);
            assertEquals(a.winner(), b.winner(), "step " + i);
            assertEquals(a.emitted(), b.emitted(), "step " + i);
            for (int c = 0; c < a.candidates().size(); c++) {
                CandidateTrace x = a.candidates().get(c);
                CandidateTrace y = b.candidates().get(c);
                assertEquals(x.text(), y.text());
                assertEquals(x.proposers(), y.proposers());
                assertEquals(x.score(), y.score(), 0.0, "step " + i + " candidate " + c);
            }
        }
        assertTrue(local.steps().size() > 3, "a fusion of several steps: " + local.steps().size());
        assertEquals(0, server.liveStates("A"), "the fusion released every remote state");
        assertEquals(0, server.liveStates("C"));
        assertEquals(liveA, localA.liveStates());
        assertEquals(liveC, localC.liveStates());
    }

    @Test
    void aLocalCopyOfTheTokenizerKeepsWordChecksOffTheNetworkAndChangesNothing() {
        Path folderA = bundledDir("a");
        Path folderC = bundledDir("c");
        SourceModelProvider provider = new RemoteSourceModelProvider();
        String url = server.uri().toString();
        SourceModel a = provider.create(ProviderConfig.of("remote", Map.of("url", url, "model", "A", "tokenizer",
                folderA.toString())));
        SourceModel c = provider.create(ProviderConfig.of("remote", Map.of("url", url, "model", "C", "tokenizer",
                folderC.toString())));
        FusionOptions options = FusionOptions.builder().maxNewTokens(40).stopStrings(List.of("\n\n")).build();
        String prompt = "Question: Jack has 35 stamps. He gives away 15 of them. How many stamps does he have left?\n"
                + "Answer:";
        Generation local = CoolFusion.builder().addSource(localA).addSource(localC).build().generate(prompt, options);
        long before = server.requestCount();
        Generation withLocalTokenizers = CoolFusion.builder().addSource(a).addSource(c).build().generate(prompt, options);
        long localTokenizerRequests = server.requestCount() - before;
        before = server.requestCount();
        Generation remoteTokenizers = CoolFusion.builder().addSource(remote("A", "A")).addSource(remote("C", "C")).build()
                .generate(prompt, options);
        long remoteTokenizerRequests = server.requestCount() - before;
        assertEquals(local.text(), withLocalTokenizers.text());
        assertEquals(local.text(), remoteTokenizers.text());
        assertTrue(localTokenizerRequests < remoteTokenizerRequests, localTokenizerRequests + " vs " + remoteTokenizerRequests);

        // Closing a remote model frees its local tokenizer (a native Hugging Face tokenizer).
        HfTextCodec copy = (HfTextCodec) a.codec();
        a.close();
        assertThrows(IllegalStateException.class, () -> copy.withEndOfSequenceIds(java.util.Set.of(1)), "closed");
        c.close();

        assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", url, "model", "C", "tokenizer",
                folderA.toString()))), "does not match model 'C'", folderA.toString());
    }

    @Test
    void providerIsFoundByNameAndServerBindsToLoopbackByDefault() throws Exception {
        SourceModelProvider found = ServiceLoader.load(SourceModelProvider.class).stream().map(ServiceLoader.Provider::get)
                .filter(p -> p.name().equals("remote")).findFirst().orElseThrow();
        assertTrue(found.description().contains("url"), found.description());
        assertTrue(InetAddress.getByName(server.uri().getHost()).isLoopbackAddress(), server.uri().toString());
        assertEquals(List.of("A", "C"), server.modelNames());
    }

    @Test
    void mistakesGetErrorsThatNameTheProblem() {
        SourceModelProvider provider = new RemoteSourceModelProvider();
        String url = server.uri().toString();
        assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", url))), "serves [A, C]", "'model'");
        assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", url, "model", "B"))),
                "does not serve 'B'", "[A, C]");
        assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", "ftp://x"))), "http://host:port");
        assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", url, "port", "1"))),
                "does not know option", "[port]");
        assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of())), "needs option 'url'");

        SourceModel remote = remote("A", "A");
        assertMessage(() -> remote.nextToken(new StateHandle("no-such-state"), Decoding.GREEDY), "unknown state 'no-such-state'");
        StateHandle open = remote.open(remote.codec().encodePrompt("Question: 2 + 3?\nAnswer:"));
        remote.release(List.of(open));
        assertMessage(() -> remote.score(open, List.of(List.of(5))), "unknown state", "released");
        assertMessage(() -> remote.open(List.of(1, 999_999)), "refused Open", "token id 999999", "source 'A'");

        TableOneServer other = TableOneServer.builder().model(localA).build().start();
        String closedUrl = other.uri().toString();
        other.close();
        assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", closedUrl))), "cannot reach",
                closedUrl.substring("http://".length()), "cool-fusion worker");
        assertMessage(() -> TableOneServer.builder().build(), "at least one model");
        assertMessage(() -> TableOneServer.builder().model(localA).model(localA), "two served models are named 'A'");
        assertMessage(() -> TableOneServer.builder().port(70000), "0..65535");
    }

    @Test
    void closingTheServerReleasesWhatClientsStillHold() {
        int before = localA.liveStates();
        TableOneServer own = TableOneServer.builder().model(localA).build().start();
        SourceModel remote = new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                Map.of("url", own.uri().toString())));
        StateHandle open = remote.open(remote.codec().encodePrompt("Question: 4 * 6?\nAnswer:"));
        remote.nextToken(open, Decoding.GREEDY);
        remote.score(open, List.of(List.of(5, 6), List.of(7)));
        assertEquals(before + 4, localA.liveStates());
        own.close();
        assertEquals(before, localA.liveStates(), "a closed server leaves no state behind");
    }

    @Test
    void statesNoRequestUsesForTheTimeToLiveAreReleased() {
        int before = localA.liveStates();
        AtomicLong now = new AtomicLong();
        TableOneServer own = TableOneServer.builder().model(localA).stateTtl(Duration.ofSeconds(60))
                .nanoClock(now::get).build().start();
        try {
            SourceModel remote = new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                    Map.of("url", own.uri().toString())));
            StateHandle kept = remote.open(remote.codec().encodePrompt("Question: 4 * 6?\nAnswer:"));
            StateHandle abandoned = remote.nextToken(kept, Decoding.GREEDY).state();
            assertEquals(before + 2, localA.liveStates());

            now.addAndGet(Duration.ofSeconds(45).toNanos());
            TokenStep step = remote.nextToken(kept, Decoding.GREEDY); // using a state restarts its time-to-live
            now.addAndGet(Duration.ofSeconds(30).toNanos());
            assertEquals(1, own.expireIdleStates(), "only the state unused for 75 s expires");
            assertEquals(1, own.expiredStates());
            assertEquals(before + 2, localA.liveStates(), "the model itself released the expired state");
            assertMessage(() -> remote.nextToken(abandoned, Decoding.GREEDY), "expired", "60 s", "--state-ttl");
            TokenStep again = remote.nextToken(kept, Decoding.GREEDY);
            assertEquals(step.token(), again.token(), "a state in use keeps working");
            assertEquals(step.logProb(), again.logProb());

            now.addAndGet(Duration.ofSeconds(61).toNanos());
            assertEquals(3, own.expireIdleStates());
            assertEquals(before, localA.liveStates(), "a vanished client leaves no state behind");
        } finally {
            own.close();
        }
        assertMessage(() -> TableOneServer.builder().stateTtl(Duration.ofMillis(10)), "at least 1 s");
        int live = localA.liveStates();
        TableOneServer never = TableOneServer.builder().model(localA).stateTtl(Duration.ZERO).nanoClock(now::get)
                .build().start();
        try {
            SourceModel remote = new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                    Map.of("url", never.uri().toString())));
            StateHandle held = remote.open(remote.codec().encodePrompt("Question: 4 * 6?\nAnswer:"));
            now.addAndGet(Duration.ofDays(1).toNanos());
            assertEquals(0, never.expireIdleStates(), "a zero time-to-live never expires states");
            assertEquals(live + 1, localA.liveStates());
            remote.release(List.of(remote.nextToken(held, Decoding.GREEDY).state(), held));
        } finally {
            never.close();
        }
        assertEquals(live, localA.liveStates());
    }

    @Test
    void aServerWithAnApiKeyAnswersOnlyRequestsThatCarryIt() throws Exception {
        TableOneServer own = TableOneServer.builder().model(localA).apiKey("s3cret-key").build().start();
        try {
            String url = own.uri().toString();
            SourceModelProvider provider = new RemoteSourceModelProvider();
            assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", url))), "missing API key",
                    "'api-key'");
            assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", url, "api-key", "guess"))),
                    "wrong API key");
            SourceModel remote = provider.create(ProviderConfig.of("remote", Map.of("url", url, "api-key", "s3cret-key")));
            List<Integer> prompt = remote.codec().encodePrompt("Question: 2 + 3?\nAnswer:");
            StateHandle open = remote.open(prompt);
            StateHandle local = localA.open(prompt);
            try {
                assertEquals(localA.nextToken(local, Decoding.GREEDY).token(), remote.nextToken(open, Decoding.GREEDY).token());
            } finally {
                localA.release(List.of(local));
            }
            remote.release(List.of(open));
            assertMessage(() -> provider.create(ProviderConfig.of("remote", Map.of("url", url, "api-key", "s3cret-ke"))),
                    "wrong API key", "UNAUTHENTICATED"); // a key one character short
        } finally {
            own.close();
        }
        assertMessage(() -> TableOneServer.builder().apiKey("has space"), "without spaces");
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        FusionException e = assertThrows(FusionException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' missing from: " + e.getMessage());
        }
    }
}
