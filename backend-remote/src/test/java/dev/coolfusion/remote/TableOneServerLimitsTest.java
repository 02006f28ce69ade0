package dev.coolfusion.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.serving.ServerLimits.Limit;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The server's limits on the bundled demo model A: a request over a limit is refused at once with the right status and
 * a message that names the limit, its value and the option that raises it; nothing was allocated (the server's and the
 * model's state counts are unchanged); the server keeps serving. Also the strict reading of requests: non-integer and
 * out-of-vocabulary token ids and missing next-token fields are 400s that name the field.
 */
class TableOneServerLimitsTest {
    /** Small limits, so that requests over them stay small. */
    static final ServerLimits SMALL = ServerLimits.DEFAULTS.withMaxBodyBytes(64 << 10).withMaxCandidates(8)
            .withMaxTokensPerCandidate(16).withMaxTokensPerRequest(64).withMaxLiveStatesPerClient(9);

    static DjlSourceModel localA;
    static TableOneServer small;
    static TableOneServer defaults;
    static List<Integer> prompt;

    @BeforeAll
    static void serve() {
        localA = RemoteSourceModelTest.bundled("a", "A");
        defaults = TableOneServer.builder().model(localA).build().start();
        prompt = localA.codec().encodePrompt("Question: 2 + 3?\nAnswer:");
    }

    /** A server of its own for each test, so that a failed test leaves no state to the next. */
    @BeforeEach
    void serveSmall() {
        small = TableOneServer.builder().model(localA).limits(SMALL).build().start();
    }

    @AfterEach
    void stopSmall() {
        small.close();
    }

    @AfterAll
    static void stop() {
        if (defaults != null) {
            defaults.close();
        }
        if (localA != null) {
            localA.close();
        }
    }

    // ------------------------------------------------------------------------------------------- the value type

    @Test
    void limitsAreOneCheckedValueWithTheAdvertisedDefaults() {
        ServerLimits d = ServerLimits.defaults();
        assertEquals(8L << 20, d.maxBodyBytes());
        assertEquals(256, d.maxCandidates());
        assertEquals(4096, d.maxTokensPerCandidate());
        assertEquals(8192, d.maxTokensPerRequest());
        assertEquals(4096, d.maxLiveStates());
        assertEquals(1024, d.maxLiveStatesPerClient());
        assertEquals(d, defaults.limits());
        assertEquals(SMALL, small.limits());
        ServerLimits changed = d.withMaxBodyBytes(1).withMaxCandidates(2).withMaxTokensPerCandidate(3)
                .withMaxTokensPerRequest(4).withMaxLiveStates(5).withMaxLiveStatesPerClient(6);
        assertEquals(new ServerLimits(1, 2, 3, 4, 5, 6), changed);
        for (Limit limit : Limit.values()) {
            assertEquals(limit.ordinal() + 1, changed.value(limit), limit.field());
        }
        assertMessage(() -> d.withMaxCandidates(0), "maxCandidates must be at least 1", "--max-candidates", "got 0");
        assertMessage(() -> d.withMaxTokensPerCandidate(-3), "maxTokensPerCandidate must be at least 1", "got -3");
        assertMessage(() -> d.withMaxTokensPerRequest(0), "maxTokensPerRequest", "--max-tokens-per-request");
        assertMessage(() -> d.withMaxLiveStates(0), "maxLiveStates must be at least 1", "--max-live-states");
        assertMessage(() -> d.withMaxLiveStatesPerClient(0), "maxLiveStatesPerClient", "--max-live-states-per-client");
        assertMessage(() -> d.withMaxBodyBytes(0), "maxBodyBytes must be in 1..2147483639", "--max-body-bytes", "got 0");
        assertMessage(() -> d.withMaxBodyBytes(1L << 40), "maxBodyBytes must be in 1..", "got 1099511627776");
        assertEquals("limits is null", assertThrows(NullPointerException.class,
                () -> TableOneServer.builder().limits(null)).getMessage());
        assertMessage(() -> TableOneServer.builder().model(localA).vocabularySize("B", 10).build(), "'B'", "not served");
        assertMessage(() -> TableOneServer.builder().vocabularySize("A", 0), "at least 1");
        assertEquals("withMaxLiveStatesPerClient", Limit.LIVE_STATES_PER_CLIENT.wither());
    }

    // ------------------------------------------------------------------------------------------- request size

    @Test
    void theRequestsThatKilledTheServerAreRefusedAtOnceAndAllocateNothing() {
        String state = open(defaults);
        Counts before = Counts.of(defaults);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            // 2,000 candidates of 200 tokens: 24 GB before the kernel killed the JVM
            Answer big = post(defaults, "score", scoreBody(state, 2000, 200));
            assertRefused(big, 413, "score request has 2000 candidates", "limit of 256 candidates per score request",
                    "--max-candidates", "ServerLimits.withMaxCandidates");
            // 20,000 one-token candidates: 20,000 states held until their time-to-live
            Answer many = post(defaults, "score", scoreBody(state, 20_000, 1));
            assertRefused(many, 413, "20000 candidates", "256", "--max-candidates");
        });
        assertEquals(before, Counts.of(defaults), "nothing was allocated");
        release(defaults, state);
        assertServes(defaults);
    }

    @Test
    void tooManyCandidatesAreRefused() {
        String state = open(small);
        Counts before = Counts.of(small);
        assertRefused(post(small, "score", scoreBody(state, 9, 1)), 413, "score request has 9 candidates",
                "limit of 8 candidates per score request (maxCandidates)", "split them", "--max-candidates");
        assertEquals(before, Counts.of(small));
        Answer fine = post(small, "score", scoreBody(state, 8, 1));
        assertEquals(200, fine.status(), fine.body());
        releaseScored(small, fine);
        release(small, state);
        assertServes(small);
    }

    @Test
    void tooLongCandidatesAndTooLargeRequestsAreRefused() {
        String state = open(small);
        Counts before = Counts.of(small);
        String longCandidate = "{\"state\": \"" + state + "\", \"candidates\": [[5], " + ids(17) + "]}";
        assertRefused(post(small, "score", longCandidate), 413, "candidates[1] has 17 tokens",
                "limit of 16 tokens per candidate (maxTokensPerCandidate)", "--max-tokens-per-candidate");
        assertRefused(post(small, "score", scoreBody(state, 5, 13)), 413, "5 candidates of up to 13 tokens",
                "batch of 65 tokens", "limit of 64 tokens per request (maxTokensPerRequest)", "--max-tokens-per-request");
        // One long candidate pads a batched forward of all of them: 5 x 16 = 80 tokens, though only 20 are sent.
        String padded = "{\"state\": \"" + state + "\", \"candidates\": [" + ids(16) + ", [5], [6], [7], [8]]}";
        assertRefused(post(small, "score", padded), 413, "batch of 80 tokens", "--max-tokens-per-request");
        assertRefused(post(small, "open", "{\"tokens\": " + ids(65) + "}"), 413, "open request has 65 tokens",
                "limit of 64 tokens per request", "--max-tokens-per-request");
        assertRefused(post(small, "nll-at-temperatures", "{\"state\": \"" + state + "\", \"tokens\": " + ids(17)
                + ", \"temperatures\": [1]}"), 413, "nll-at-temperatures request has 17 tokens", "--max-tokens-per-candidate");
        assertRefused(post(small, "decode", "{\"ids\": " + ids(65) + "}"), 413, "decode request has 65 ids",
                "--max-tokens-per-request");
        assertRefused(post(small, "is-special", "{\"ids\": " + ids(65) + "}"), 413, "is-special request has 65 ids");
        assertEquals(before, Counts.of(small));
        Answer fine = post(small, "score", scoreBody(state, 4, 16));
        assertEquals(200, fine.status(), fine.body());
        releaseScored(small, fine);
        Answer atTheLimit = post(small, "open", "{\"tokens\": " + ids(64) + "}");
        assertEquals(200, atTheLimit.status(), "at the limit is fine: " + atTheLimit.body());
        release(small, atTheLimit.json().path("state").asText());
        release(small, state);
        assertServes(small);
    }

    @Test
    void theRemoteProviderRaisesTheRefusalWithItsMessage() {
        SourceModel remote = new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                Map.of("url", small.uri().toString())));
        StateHandle open = remote.open(prompt);
        List<List<Integer>> nine = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            nine.add(List.of(5 + i));
        }
        assertMessage(() -> remote.score(open, nine), "refused score on model 'A'", "9 candidates", "limit of 8",
                "--max-candidates");
        remote.release(List.of(open));
        assertEquals(0, small.liveStates("A"));
    }

    // ------------------------------------------------------------------------------------------- body size

    @Test
    void aBodyOverTheLimitByItsContentLengthIsRefusedBeforeItIsSent() throws Exception {
        Counts before = Counts.of(defaults);
        long declared = 50L << 20; // the 50 MB body that took the JVM from 260 MB to 1.4 GB
        try (Socket socket = connect(defaults, null)) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/models/A/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                    + declared + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            byte[] part = new byte[16 << 10];
            Arrays.fill(part, (byte) ' ');
            out.write(part); // 16 KiB of the 50 MiB: the answer comes without the rest
            out.flush();
            Answer a = readAnswer(socket.getInputStream());
            assertRefused(a, 413, "score request body of 52428800 bytes (its Content-Length)",
                    "limit of 8388608 bytes per request body (maxBodyBytes)", "--max-body-bytes");
        }
        assertEquals(before, Counts.of(defaults));
        assertServes(defaults);
    }

    @Test
    void aChunkedBodyIsReadNoFurtherThanTheLimit() throws Exception {
        Counts before = Counts.of(small);
        try (Socket socket = connect(small, null)) {
            OutputStream out = socket.getOutputStream();
            out.write("POST /v1/models/A/open HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            byte[] chunk = new byte[8 << 10];
            Arrays.fill(chunk, (byte) ' ');
            for (int i = 0; i < 9; i++) { // 72 KiB past a 64 KiB limit, and no last chunk: the body never ends
                out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(chunk);
                out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
            }
            out.flush();
            Answer a = readAnswer(socket.getInputStream());
            assertRefused(a, 413, "open request body is longer than 65536 bytes (refused after reading 65537 of it)",
                    "limit of 65536 bytes per request body", "--max-body-bytes");
        }
        assertEquals(before, Counts.of(small));
        // A chunked body under the limit is read as any other.
        try (Socket socket = connect(small, null)) {
            String json = "{\"tokens\": " + prompt + "}";
            socket.getOutputStream().write(("POST /v1/models/A/open HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    + "Connection: close\r\n\r\n" + Integer.toHexString(json.length()) + "\r\n" + json + "\r\n0\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            Answer a = readAnswer(socket.getInputStream());
            assertEquals(200, a.status(), a.body());
            release(small, a.json().path("state").asText());
        }
        assertServes(small);
    }

    // ------------------------------------------------------------------------------------------- live states

    @Test
    void aClientPastItsLiveStatesIsRefusedUntilItReleasesSome() {
        Counts before = Counts.of(small);
        String state = open(small); // 1 of the client's 9
        Answer five = post(small, "score", scoreBody(state, 8, 1)); // 9 of 9
        assertEquals(200, five.status(), five.body());
        Counts full = Counts.of(small);
        assertRefused(post(small, "score", scoreBody(state, 1, 1)), 429, "score would issue 1 state while 9 are live for"
                + " client 127.0.0.1", "limit of 9 live states per client (maxLiveStatesPerClient)", "release the states",
                "--max-live-states-per-client");
        assertRefused(post(small, "open", "{\"tokens\": " + prompt + "}"), 429, "open would issue 1 state",
                "--max-live-states-per-client");
        assertRefused(post(small, "next-token", "{\"state\": \"" + state + "\", \"temperature\": 0, \"topP\": 1,"
                + " \"uniform\": 0}"), 429, "next-token would issue 1 state");
        assertEquals(full, Counts.of(small), "nothing was allocated");
        releaseScored(small, five);
        Answer again = post(small, "score", scoreBody(state, 8, 1));
        assertEquals(200, again.status(), "released states count no more: " + again.body());
        releaseScored(small, again);
        release(small, state);
        assertEquals(before, Counts.of(small));
    }

    @Test
    void allClientsTogetherStayUnderTheServersLiveStates() {
        int live = localA.liveStates();
        AtomicClock clock = new AtomicClock();
        TableOneServer own = TableOneServer.builder().model(localA).limits(ServerLimits.DEFAULTS.withMaxLiveStates(4))
                .stateTtl(Duration.ofSeconds(60)).nanoClock(clock::now).build().start();
        try {
            String state = open(own);
            Answer three = post(own, "score", scoreBody(state, 3, 1));
            assertEquals(200, three.status(), three.body());
            assertEquals(4, own.liveStates());
            assertRefused(post(own, "open", "{\"tokens\": " + prompt + "}"), 429, "open would issue 1 state while 4 are"
                    + " live", "limit of 4 live states, all clients and models together (maxLiveStates)",
                    "--max-live-states ");
            assertEquals(live + 4, localA.liveStates());
            clock.advance(Duration.ofSeconds(61));
            assertEquals(4, own.expireIdleStates());
            assertEquals(0, own.liveStates(), "expired states count no more");
            assertServes(own);
        } finally {
            own.close();
        }
        assertEquals(live, localA.liveStates());
    }

    @Test
    void theLiveStatesOfAClientAreCountedPerApiKeyOrElsePerAddress() throws Exception {
        try (Socket probe = new Socket()) {
            probe.bind(new InetSocketAddress("127.0.0.2", 0));
        } catch (IOException noSecondLoopbackAddress) {
            Assumptions.abort("127.0.0.2 is not a loopback address here: " + noSecondLoopbackAddress);
        }
        ServerLimits two = ServerLimits.DEFAULTS.withMaxLiveStatesPerClient(2);
        TableOneServer open = TableOneServer.builder().model(localA).limits(two).build().start();
        TableOneServer keyed = TableOneServer.builder().model(localA).limits(two).apiKey("k3y").build().start();
        try {
            String body = "{\"tokens\": " + prompt + "}";
            for (String address : new String[] {"127.0.0.1", "127.0.0.2"}) {
                for (int i = 0; i < 2; i++) {
                    assertEquals(200, post(open, address, "open", body, null).status());
                }
                assertRefused(post(open, address, "open", body, null), 429, "while 2 are live for client " + address,
                        "--max-live-states-per-client");
            }
            assertEquals(4, open.liveStates(), "each address has its own 2");

            assertEquals(200, post(keyed, "127.0.0.1", "open", body, "k3y").status());
            assertEquals(200, post(keyed, "127.0.0.2", "open", body, "k3y").status());
            assertRefused(post(keyed, "127.0.0.2", "open", body, "k3y"), 429,
                    "2 are live for the holders of this server's API key", "--max-live-states-per-client");
            assertEquals(2, keyed.liveStates(), "one key is one client, from any address");
        } finally {
            open.close();
            keyed.close();
        }
    }

    // ------------------------------------------------------------------------------------------- strict requests

    @Test
    void nonIntegerTokenIdsAreRefusedNotTruncated() {
        String state = open(small);
        Counts before = Counts.of(small);
        assertRefused(post(small, "open", "{\"tokens\": [1.5, 2.7]}"), 400, "request field 'tokens[0]' must be an"
                + " integer", "got 1.5");
        assertRefused(post(small, "open", "{\"tokens\": [1, \"5\"]}"), 400, "'tokens[1]' must be an integer",
                "the string \"5\"");
        assertRefused(post(small, "open", "{\"tokens\": [1, null]}"), 400, "'tokens[1]' is null");
        assertRefused(post(small, "open", "{\"tokens\": [1, 1e3]}"), 400, "'tokens[1]' must be an integer");
        assertRefused(post(small, "open", "{\"tokens\": 5}"), 400, "'tokens' must be an array, got 5");
        assertRefused(post(small, "open", "{\"tokens\": [1, 10000000000]}"), 400, "'tokens[1]'", "out of range");
        assertRefused(post(small, "score", "{\"state\": \"" + state + "\", \"candidates\": [[5], [6, 7.5]]}"), 400,
                "'candidates[1][1]' must be an integer", "got 7.5");
        assertRefused(post(small, "score", "{\"state\": \"" + state + "\", \"candidates\": [[5], null]}"), 400,
                "'candidates[1]' is null");
        assertRefused(post(small, "decode", "{\"ids\": [5.0]}"), 400, "'ids[0]' must be an integer");
        assertRefused(post(small, "nll-at-temperatures", "{\"state\": \"" + state + "\", \"tokens\": [0.5],"
                + " \"temperatures\": [1]}"), 400, "'tokens[0]' must be an integer");
        assertRefused(post(small, "decode", "{\"ids\": [5], \"continuation\": \"yes\"}"), 400,
                "'continuation' must be true or false");
        assertRefused(post(small, "open", "{\"tokens\": [1, 2"), 400, "malformed JSON request");
        assertEquals(before, Counts.of(small));
        release(small, state);
        assertServes(small);
    }

    @Test
    void anIdOutsideTheVocabularyIsRefusedByEveryOperationAlike() {
        int vocabulary = localA.vocabularySize();
        assertEquals(vocabulary, small.vocabularySize("A").orElseThrow(), "the DJL model tells its vocabulary size");
        String state = open(small);
        Counts before = Counts.of(small);
        String message = "token id " + vocabulary + " (request field '";
        String size = "outside the vocabulary of model 'A': its " + vocabulary + " ids are 0.." + (vocabulary - 1);
        assertRefused(post(small, "decode", "{\"ids\": [5, " + vocabulary + "]}"), 400, message + "ids[1]')", size);
        assertRefused(post(small, "decode", "{\"ids\": [" + vocabulary + "], \"continuation\": true}"), 400, message, size);
        assertRefused(post(small, "open", "{\"tokens\": [1, " + vocabulary + "]}"), 400, message + "tokens[1]')", size);
        assertRefused(post(small, "score", "{\"state\": \"" + state + "\", \"candidates\": [[5], [" + vocabulary + "]]}"),
                400, message + "candidates[1][0]')", size);
        assertRefused(post(small, "nll-at-temperatures", "{\"state\": \"" + state + "\", \"tokens\": [" + vocabulary
                + "], \"temperatures\": [1]}"), 400, message + "tokens[0]')", size);
        assertRefused(post(small, "decode", "{\"ids\": [-1]}"), 400, "token id -1 (request field 'ids[0]')", size);
        assertEquals(before, Counts.of(small));
        Answer inside = post(small, "decode", "{\"ids\": [5, " + (vocabulary - 1) + "]}");
        assertEquals(200, inside.status(), inside.body());

        SourceModel remote = new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                Map.of("url", small.uri().toString())));
        assertMessage(() -> remote.codec().decode(List.of(999_999)), "refused decode", "token id 999999", "its "
                + vocabulary + " ids");
        assertMessage(() -> remote.open(List.of(1, 999_999)), "refused open", "token id 999999", "its " + vocabulary
                + " ids");
        release(small, state);

        // A model that does not tell its size is checked by the model alone, unless the builder is told the size.
        TableOneServer told = TableOneServer.builder().model("A", localA).vocabularySize("A", 100).build().start();
        try {
            assertRefused(post(told, "decode", "{\"ids\": [100]}"), 400, "its 100 ids are 0..99");
        } finally {
            told.close();
        }
    }

    @Test
    void aNextTokenRequestMustSayHowToDecode() {
        String state = open(small);
        Counts before = Counts.of(small);
        assertRefused(post(small, "next-token", "{\"state\": \"" + state + "\"}"), 400, "request field 'temperature'"
                + " is missing", "temperature, topP and uniform", "greedy: temperature 0, topP 1, uniform 0");
        assertRefused(post(small, "next-token", "{\"state\": \"" + state + "\", \"temperature\": 0.7, \"uniform\": 0.3}"),
                400, "request field 'topP' is missing");
        assertRefused(post(small, "next-token", "{\"state\": \"" + state + "\", \"temperature\": 0.7, \"topP\": 0.9}"),
                400, "request field 'uniform' is missing");
        assertRefused(post(small, "next-token", "{\"temperature\": 0, \"topP\": 1, \"uniform\": 0}"), 400,
                "request field 'state' is missing");
        assertRefused(post(small, "next-token", "{\"state\": \"" + state + "\", \"temperature\": \"0\", \"topP\": 1,"
                + " \"uniform\": 0}"), 400, "'temperature' must be a number");
        assertRefused(post(small, "next-token", "{\"state\": \"" + state + "\", \"temperature\": 0, \"topP\": 0,"
                + " \"uniform\": 0}"), 400, "topP must be in (0, 1], got 0.0");
        assertEquals(before, Counts.of(small));
        Answer greedy = post(small, "next-token", "{\"state\": \"" + state + "\", \"temperature\": 0, \"topP\": 1,"
                + " \"uniform\": 0}");
        assertEquals(200, greedy.status(), greedy.body());
        release(small, greedy.json().path("state").asText());
        release(small, state);
    }

    // ------------------------------------------------------------------------------------------- helpers

    /** The server's and the model's state counts. */
    record Counts(int serverA, int server, int model) {
        static Counts of(TableOneServer s) {
            return new Counts(s.liveStates("A"), s.liveStates(), localA.liveStates());
        }
    }

    static final class AtomicClock {
        private final java.util.concurrent.atomic.AtomicLong nanos = new java.util.concurrent.atomic.AtomicLong();

        long now() {
            return nanos.get();
        }

        void advance(Duration d) {
            nanos.addAndGet(d.toNanos());
        }
    }

    record Answer(int status, String body) {
        JsonNode json() {
            try {
                return Wire.JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + body, e);
            }
        }
    }

    static void assertRefused(Answer a, int status, String... parts) {
        assertEquals(status, a.status(), a.body());
        String error = a.json().path("error").asText();
        for (String part : parts) {
            assertTrue(error.contains(part), "'" + part + "' missing from: " + error);
        }
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        RemoteSourceModelTest.assertMessage(call, parts);
    }

    /** The server still opens, scores and releases. */
    static void assertServes(TableOneServer s) {
        String state = open(s);
        Answer scored = post(s, "score", scoreBody(state, 2, 2));
        assertEquals(200, scored.status(), scored.body());
        releaseScored(s, scored);
        release(s, state);
    }

    static String open(TableOneServer s) {
        Answer a = post(s, "open", "{\"tokens\": " + prompt + "}");
        assertEquals(200, a.status(), a.body());
        return a.json().path("state").asText();
    }

    static void release(TableOneServer s, String state) {
        Answer a = post(s, "release", "{\"states\": [\"" + state + "\"]}");
        assertEquals(200, a.status(), a.body());
    }

    static void releaseScored(TableOneServer s, Answer scored) {
        StringJoiner states = new StringJoiner("\", \"", "{\"states\": [\"", "\"]}");
        scored.json().path("results").forEach(r -> states.add(r.path("state").asText()));
        assertEquals(200, post(s, "release", states.toString()).status());
    }

    /** {@code n} candidates of {@code length} tokens each. */
    static String scoreBody(String state, int n, int length) {
        StringBuilder b = new StringBuilder("{\"state\": \"").append(state).append("\", \"candidates\": [");
        for (int i = 0; i < n; i++) {
            b.append(i == 0 ? "" : ",").append(ids(length));
        }
        return b.append("]}").toString();
    }

    /** A JSON list of {@code n} token ids inside every bundled vocabulary. */
    static String ids(int n) {
        StringJoiner j = new StringJoiner(",", "[", "]");
        for (int i = 0; i < n; i++) {
            j.add(Integer.toString(5 + i % 100));
        }
        return j.toString();
    }

    static Answer post(TableOneServer s, String op, String json) {
        return post(s, null, op, json, null);
    }

    /** One POST over a plain socket (from {@code from}, when given), so that a test controls every byte. */
    static Answer post(TableOneServer s, String from, String op, String json, String key) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = connect(s, from)) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/models/A/" + op + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + (key == null ? "" : "Authorization: Bearer " + key + "\r\n") + "Content-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            return readAnswer(socket.getInputStream());
        } catch (IOException e) {
            throw new AssertionError(op + " failed", e);
        }
    }

    static Socket connect(TableOneServer s, String from) throws IOException {
        URI uri = s.uri();
        Socket socket = new Socket();
        if (from != null) {
            socket.bind(new InetSocketAddress(from, 0));
        }
        socket.connect(new InetSocketAddress(uri.getHost(), uri.getPort()), 10_000);
        socket.setSoTimeout(60_000);
        return socket;
    }

    /** Reads one HTTP response with a Content-Length. */
    static Answer readAnswer(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int last4 = 0;
        while (last4 != 0x0d0a0d0a) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("the connection closed in the response's headers: " + head);
            }
            head.write(b);
            last4 = (last4 << 8) | b;
        }
        String[] lines = head.toString(StandardCharsets.US_ASCII).split("\r\n");
        int status = Integer.parseInt(lines[0].split(" ")[1]);
        int length = 0;
        for (String line : lines) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        return new Answer(status, new String(in.readNBytes(length), StandardCharsets.UTF_8));
    }
}
