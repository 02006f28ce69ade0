package dev.coolfusion.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.remote.proto.Candidate;
import dev.coolfusion.remote.proto.DecodeRequest;
import dev.coolfusion.remote.proto.Decoding;
import dev.coolfusion.remote.proto.NextTextRequest;
import dev.coolfusion.remote.proto.NextTokenRequest;
import dev.coolfusion.remote.proto.NllAtTemperaturesRequest;
import dev.coolfusion.remote.proto.OpenRequest;
import dev.coolfusion.remote.proto.RegisterTokenizerRequest;
import dev.coolfusion.remote.proto.ReleaseRequest;
import dev.coolfusion.remote.proto.Sampling;
import dev.coolfusion.remote.proto.ScoreRequest;
import dev.coolfusion.remote.proto.ScoreResponse;
import dev.coolfusion.remote.proto.TokenizerFile;
import dev.coolfusion.remote.proto.TokenizerFiles;
import dev.coolfusion.remote.proto.TokenizerRef;
import dev.coolfusion.remote.proto.WorkerGrpc;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.serving.ServerLimits.Limit;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The worker survives bad input, on the bundled demo model A: a call over a limit, with a malformed message, an unknown
 * or expired state or an out-of-range token id gets a clear status at once (the message names the field, or the limit,
 * its value and the option that raises it); nothing was allocated (the worker's and the model's state counts are
 * unchanged); the worker keeps serving.
 */
class WorkerLimitsTest {
    /** Small limits, so that calls over them stay small. */
    static final ServerLimits SMALL = ServerLimits.DEFAULTS.withMaxBodyBytes(64 << 10).withMaxCandidates(8)
            .withMaxTokensPerCandidate(16).withMaxTokensPerRequest(64).withMaxLiveStatesPerClient(9);

    static DjlSourceModel localA;
    static TableOneServer defaults;
    static List<Integer> prompt;
    TableOneServer small;
    final List<ManagedChannel> channels = new ArrayList<>();

    @BeforeAll
    static void serve() {
        localA = RemoteSourceModelTest.bundled("a", "A");
        defaults = TableOneServer.builder().model(localA).build().start();
        prompt = localA.codec().encodePrompt("Question: 2 + 3?\nAnswer:");
    }

    @BeforeEach
    void serveSmall() {
        small = TableOneServer.builder().model(localA).limits(SMALL).build().start();
    }

    @AfterEach
    void stopSmall() {
        channels.forEach(ManagedChannel::shutdownNow);
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

    @Test
    void limitsAreOneCheckedValueWithTheAdvertisedDefaults() {
        ServerLimits d = ServerLimits.defaults();
        assertEquals(new ServerLimits(8L << 20, 256, 4096, 8192, 4096, 1024), d);
        assertEquals(d, defaults.limits());
        assertEquals(SMALL, small.limits());
        ServerLimits changed = d.withMaxBodyBytes(1).withMaxCandidates(2).withMaxTokensPerCandidate(3)
                .withMaxTokensPerRequest(4).withMaxLiveStates(5).withMaxLiveStatesPerClient(6);
        for (Limit limit : Limit.values()) {
            assertEquals(limit.ordinal() + 1, changed.value(limit), limit.field());
        }
        assertMessage(() -> d.withMaxCandidates(0), "maxCandidates must be at least 1", "--max-candidates", "got 0");
        assertMessage(() -> TableOneServer.builder().model(localA).vocabularySize("B", 10).build(), "'B'", "not served");
        assertMessage(() -> TableOneServer.builder().vocabularySize("A", 0), "at least 1");
    }

    @Test
    void oversizedCallsAreRefusedAtOnceAndAllocateNothing() {
        WorkerGrpc.WorkerBlockingStub stub = stub(defaults);
        String state = open(stub);
        Counts before = Counts.of(defaults);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            // 2,000 candidates of 200 tokens: 24 GB before the kernel killed the JVM of the HTTP server without limits
            refused(Status.Code.RESOURCE_EXHAUSTED, () -> stub.score(score(state, 2000, 200)), "Score has 2000"
                    + " candidates", "limit of 256 candidates per score request", "--max-candidates");
        });
        assertEquals(before, Counts.of(defaults), "nothing was allocated");
        WorkerGrpc.WorkerBlockingStub s = stub(small);
        String st = open(s);
        Counts smallBefore = Counts.of(small);
        // over the message size: gRPC refuses it before the worker reads it
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.score(score(st, 8, 10_000)), "");
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.score(score(st, 9, 1)), "Score has 9 candidates",
                "--max-candidates");
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.score(score(st, 1, 17)), "candidates[0] has 17 tokens",
                "--max-tokens-per-candidate");
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.score(score(st, 5, 16)), "a batch of 80 tokens",
                "--max-tokens-per-request");
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.open(OpenRequest.newBuilder().setModel("A")
                .addAllTokens(Collections.nCopies(65, 5)).build()), "Open has 65 tokens", "--max-tokens-per-request");
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.nextText(nextText(st).setMaxSegmentTokens(17).build()),
                "max_segment_tokens is 17", "--max-tokens-per-candidate");
        assertEquals(smallBefore, Counts.of(small));
        release(s, st);
        release(stub, state);
        assertServes(small);
        assertServes(defaults);
    }

    @Test
    void aClientPastItsLiveStatesIsRefusedUntilItReleasesSome() {
        WorkerGrpc.WorkerBlockingStub s = stub(small);
        Counts before = Counts.of(small);
        String state = open(s); // 1 of the client's 9
        ScoreResponse eight = s.score(score(state, 8, 1)); // 9 of 9
        Counts full = Counts.of(small);
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.score(score(state, 1, 1)), "Score would issue 1 state while 9"
                + " are live for client 127.0.0.1", "limit of 9 live states per client", "--max-live-states-per-client");
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.nextToken(NextTokenRequest.newBuilder().setModel("A")
                .setState(state).setDecoding(greedy()).build()), "NextToken would issue 1 state");
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> s.nextText(nextText(state).build()), "NextText would issue 1 state");
        assertEquals(full, Counts.of(small), "nothing was allocated");
        s.release(ReleaseRequest.newBuilder().setModel("A").addAllStates(eight.getResultsList().stream()
                .map(r -> r.getState()).toList()).build());
        ScoreResponse again = s.score(score(state, 8, 1));
        s.release(ReleaseRequest.newBuilder().setModel("A").addAllStates(again.getResultsList().stream()
                .map(r -> r.getState()).toList()).build());
        release(s, state);
        assertEquals(before, Counts.of(small));
    }

    @Test
    void theLiveStatesOfAClientAreCountedPerApiKeyOrElsePerAddress() throws Exception {
        try (Socket probe = new Socket()) {
            probe.bind(new InetSocketAddress("127.0.0.2", 0));
        } catch (IOException noSecondLoopbackAddress) {
            Assumptions.abort("127.0.0.2 is not a loopback address here: " + noSecondLoopbackAddress);
        }
        ServerLimits two = ServerLimits.DEFAULTS.withMaxLiveStatesPerClient(2);
        TableOneServer keyed = TableOneServer.builder().model(localA).limits(two).apiKey("k3y").build().start();
        try {
            WorkerGrpc.WorkerBlockingStub one = keyedStub(keyed, "k3y");
            WorkerGrpc.WorkerBlockingStub other = keyedStub(keyed, "k3y");
            open(one);
            open(other);
            refused(Status.Code.RESOURCE_EXHAUSTED, () -> open(other), "2 are live for the holders of this worker's API"
                    + " key", "--max-live-states-per-client");
            refused(Status.Code.UNAUTHENTICATED, () -> open(keyedStub(keyed, "k3")), "wrong API key",
                    "authorization: Bearer <key>");
            refused(Status.Code.UNAUTHENTICATED, () -> open(stub(keyed)), "missing API key", "'api-key'");
            // the health service answers without a key (it tells nothing but that the worker serves)
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, HealthGrpc.newBlockingStub(channel(keyed))
                    .check(HealthCheckRequest.newBuilder().setService(TableOneServer.SERVICE).build()).getStatus());
        } finally {
            keyed.close();
        }
    }

    @Test
    void unknownAndExpiredStatesOutOfRangeIdsAndMissingFieldsAreNamed() {
        WorkerGrpc.WorkerBlockingStub s = stub(small);
        int vocabulary = localA.vocabularySize().getAsInt();
        String state = open(s);
        Counts before = Counts.of(small);
        String size = "outside the vocabulary of model 'A': its " + vocabulary + " ids are 0.." + (vocabulary - 1);
        refused(Status.Code.INVALID_ARGUMENT, () -> s.decode(DecodeRequest.newBuilder().setModel("A").addIds(5)
                .addIds(vocabulary).build()), "token id " + vocabulary + " (field 'ids[1]')", size);
        refused(Status.Code.INVALID_ARGUMENT, () -> s.open(OpenRequest.newBuilder().setModel("A").addTokens(1)
                .addTokens(-1).build()), "token id -1 (field 'tokens[1]')", size);
        refused(Status.Code.INVALID_ARGUMENT, () -> s.score(ScoreRequest.newBuilder().setModel("A").setState(state)
                .addCandidates(Candidate.newBuilder().addTokens(5))
                .addCandidates(Candidate.newBuilder().addTokens(vocabulary)).build()), "field 'candidates[1][0]'", size);
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nllAtTemperatures(NllAtTemperaturesRequest.newBuilder()
                .setModel("A").setState(state).addTokens(vocabulary).addTemperatures(1).build()), size);
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nextText(nextText(state).addAhead(
                dev.coolfusion.remote.proto.TokenStep.newBuilder().setToken(vocabulary).setState(state)).build()),
                "ahead[0].token", size);
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nextToken(NextTokenRequest.newBuilder().setModel("A")
                .setState(state).build()), "field 'decoding' is missing", "greedy: temperature 0, top_p 1, uniform 0");
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nextToken(NextTokenRequest.newBuilder().setModel("A")
                .setState(state).setDecoding(Decoding.newBuilder().setTopP(0)).build()), "topP must be in (0, 1]");
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nextToken(NextTokenRequest.newBuilder().setModel("A")
                .setDecoding(greedy()).build()), "field 'state' is missing");
        refused(Status.Code.INVALID_ARGUMENT, () -> s.open(OpenRequest.newBuilder().addTokens(1).build()),
                "field 'model' is missing", "[A]");
        refused(Status.Code.NOT_FOUND, () -> s.open(OpenRequest.newBuilder().setModel("B").addTokens(1).build()),
                "model 'B' is not served here; served: [A]");
        refused(Status.Code.NOT_FOUND, () -> s.nextToken(NextTokenRequest.newBuilder().setModel("A")
                .setState("no-such-state").setDecoding(greedy()).build()), "unknown state 'no-such-state'");
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nextText(nextText(state).clearSampling().build()),
                "field 'sampling' is missing");
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nextText(nextText(state).setSelf(3).build()),
                "field 'self' must index 'tokenizers' (0..0)");
        refused(Status.Code.INVALID_ARGUMENT, () -> s.nextText(nextText(state).setSampling(Sampling.newBuilder()
                .setTopP(2)).build()), "field 'sampling' is invalid", "topP");
        StatusRuntimeException unknown = refused(Status.Code.FAILED_PRECONDITION, () -> s.nextText(nextText(state)
                .addTokenizers(TokenizerRef.newBuilder().setDigest("ab".repeat(32))).build()),
                "unknown tokenizer " + "ab".repeat(32), "RegisterTokenizer");
        assertEquals(List.of("ab".repeat(32)), List.copyOf((List<String>) toList(Status.trailersFromThrowable(unknown)
                .getAll(TableOneServer.UNKNOWN_TOKENIZER))));
        refused(Status.Code.INVALID_ARGUMENT, () -> s.registerTokenizer(RegisterTokenizerRequest.newBuilder()
                .setTokenizer(TokenizerFiles.newBuilder().setDigest("ab".repeat(32)).addFiles(TokenizerFile.newBuilder()
                        .setName("../etc/passwd").setGzipContent(TokenizerTransfer.gzip(new byte[3])))).build()),
                "'../etc/passwd' is not one of");
        TokenizerFiles realA = TokenizerTransfer.of(localA.codec()).orElseThrow();
        refused(Status.Code.INVALID_ARGUMENT, () -> s.registerTokenizer(RegisterTokenizerRequest.newBuilder()
                .setTokenizer(realA.toBuilder().setDigest("cd".repeat(32))).build()), "give digest "
                + localA.codec().digest().orElseThrow(), "not the claimed " + "cd".repeat(32));
        refused(Status.Code.INVALID_ARGUMENT, () -> s.registerTokenizer(RegisterTokenizerRequest.newBuilder()
                .setTokenizer(realA.toBuilder().setDigest("ef".repeat(32)).setFiles(0, realA.getFiles(0).toBuilder()
                        .setGzipContent(com.google.protobuf.ByteString.copyFromUtf8("plain")))).build()), "not gzip data");
        assertEquals(before, Counts.of(small), "nothing was allocated");
        release(s, state);
        assertServes(small);
    }

    @Test
    void anExpiredStateIsToldApartFromAnUnknownOne() {
        TableOneServerLimitsClock clock = new TableOneServerLimitsClock();
        TableOneServer own = TableOneServer.builder().model(localA).stateTtl(Duration.ofSeconds(60))
                .nanoClock(clock::now).build().start();
        try {
            WorkerGrpc.WorkerBlockingStub s = stub(own);
            String state = open(s);
            clock.advance(Duration.ofSeconds(61));
            assertEquals(1, own.expireIdleStates());
            refused(Status.Code.NOT_FOUND, () -> s.nextText(nextText(state).build()), "state '" + state + "' expired",
                    "60 s", "--state-ttl");
            assertServes(own);
        } finally {
            own.close();
        }
    }

    @Test
    void malformedMessagesGetAStatusAndTheWorkerKeepsServing() {
        ManagedChannel channel = channel(small);
        MethodDescriptor<byte[], byte[]> raw = WorkerGrpc.getOpenMethod().toBuilder(new Bytes(), new Bytes()).build();
        for (byte[] garbage : List.of(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}, "{\"tokens\": [1]}".getBytes(),
                new byte[] {0x12, 0x7f, 0x01})) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ClientCalls.blockingUnaryCall(
                    channel, raw, CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), garbage));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("malformed Open message"), e.getStatus().toString());
        }
        assertEquals(0, small.liveStates());
        assertServes(small);
    }

    @Test
    void aCallTheClientGivesUpOnStopsGeneratingAndKeepsNoState() throws Exception {
        // A slow model whose tokens decode to no text (<s>, a special token): T1 would go on for 64 tokens (26 s).
        java.util.concurrent.atomic.AtomicInteger generated = new java.util.concurrent.atomic.AtomicInteger();
        SourceModel slow = new Slow(localA, generated);
        TableOneServer own = TableOneServer.builder().model(slow).build().start();
        try {
            WorkerGrpc.WorkerBlockingStub s = stub(own);
            String state = open(s);
            long t0 = System.nanoTime();
            refused(Status.Code.DEADLINE_EXCEEDED, () -> s.withDeadlineAfter(1, TimeUnit.SECONDS)
                    .nextText(nextText(state).build()));
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
            Thread.sleep(1500); // the token in progress finishes; no further one starts
            int after = generated.get();
            Thread.sleep(1500);
            assertEquals(after, generated.get(), "the worker stopped generating");
            assertTrue(after <= 5, after + " tokens");
            assertEquals(1, own.liveStates(), "only the opened state is left: the aborted NextText released its own");
            release(s, state);
            assertEquals(0, own.liveStates());
        } finally {
            own.close();
        }
    }

    /** Model A, 400 ms per token, every generated token replaced by {@code <s>} (decodes to no text). */
    static final class Slow implements SourceModel {
        final SourceModel inner;
        final java.util.concurrent.atomic.AtomicInteger generated;

        Slow(SourceModel inner, java.util.concurrent.atomic.AtomicInteger generated) {
            this.inner = inner;
            this.generated = generated;
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public dev.coolfusion.spi.TextCodec codec() {
            return inner.codec();
        }

        @Override
        public dev.coolfusion.spi.StateHandle open(List<Integer> promptTokens) {
            return inner.open(promptTokens);
        }

        @Override
        public dev.coolfusion.spi.TokenStep nextToken(dev.coolfusion.spi.StateHandle state,
                dev.coolfusion.spi.Decoding decoding) {
            try {
                Thread.sleep(400);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            generated.incrementAndGet();
            dev.coolfusion.spi.TokenStep step = inner.nextToken(state, decoding);
            return new dev.coolfusion.spi.TokenStep(inner.codec().beginOfSequenceId().orElseThrow(), step.logProb(),
                    step.state());
        }

        @Override
        public List<dev.coolfusion.spi.ScoredTokens> score(dev.coolfusion.spi.StateHandle state,
                List<List<Integer>> candidates) {
            return inner.score(state, candidates);
        }

        @Override
        public void commit(dev.coolfusion.spi.StateHandle temporary) {
            inner.commit(temporary);
        }

        @Override
        public void release(java.util.Collection<dev.coolfusion.spi.StateHandle> states) {
            inner.release(states);
        }
    }

    // ------------------------------------------------------------------------------------------- helpers

    static final class Bytes implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    static final class TableOneServerLimitsClock {
        private final java.util.concurrent.atomic.AtomicLong nanos = new java.util.concurrent.atomic.AtomicLong();

        long now() {
            return nanos.get();
        }

        void advance(Duration d) {
            nanos.addAndGet(d.toNanos());
        }
    }

    private static <T> List<T> toList(Iterable<T> values) {
        List<T> out = new ArrayList<>();
        values.forEach(out::add);
        return out;
    }

    /** The worker's and the model's state counts. */
    record Counts(int serverA, int server, int model) {
        static Counts of(TableOneServer s) {
            return new Counts(s.liveStates("A"), s.liveStates(), localA.liveStates());
        }
    }

    ManagedChannel channel(TableOneServer s) {
        ManagedChannel c = Grpc.newChannelBuilderForAddress(s.uri().getHost(), s.uri().getPort(),
                InsecureChannelCredentials.create()).build();
        channels.add(c);
        return c;
    }

    WorkerGrpc.WorkerBlockingStub stub(TableOneServer s) {
        return WorkerGrpc.newBlockingStub(channel(s)).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    WorkerGrpc.WorkerBlockingStub keyedStub(TableOneServer s, String key) {
        Metadata headers = new Metadata();
        headers.put(TableOneServer.AUTHORIZATION, "Bearer " + key);
        return stub(s).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    static Decoding greedy() {
        return Decoding.newBuilder().setTemperature(0).setTopP(1).setUniform(0).build();
    }

    static String open(WorkerGrpc.WorkerBlockingStub s) {
        return s.open(OpenRequest.newBuilder().setModel("A").addAllTokens(prompt).build()).getState();
    }

    static void release(WorkerGrpc.WorkerBlockingStub s, String state) {
        s.release(ReleaseRequest.newBuilder().setModel("A").addStates(state).build());
    }

    static ScoreRequest score(String state, int candidates, int tokens) {
        ScoreRequest.Builder b = ScoreRequest.newBuilder().setModel("A").setState(state);
        for (int i = 0; i < candidates; i++) {
            b.addCandidates(Candidate.newBuilder().addAllTokens(Collections.nCopies(tokens, 5)));
        }
        return b.build();
    }

    /** A valid greedy NextText on A alone (its own tokenizer). */
    static NextTextRequest.Builder nextText(String state) {
        return NextTextRequest.newBuilder().setModel("A").setState(state).setRoom(100).setMaxSegmentTokens(16)
                .setSelf(0).addTokenizers(TokenizerRef.newBuilder().setDigest(localA.codec().digest().orElseThrow()))
                .setSampling(Sampling.newBuilder().setTopP(1));
    }

    static StatusRuntimeException refused(Status.Code code, org.junit.jupiter.api.function.Executable call,
            String... parts) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), String.valueOf(e.getStatus()));
        String message = String.valueOf(e.getStatus().getDescription());
        for (String part : parts) {
            assertTrue(message.contains(part), "'" + part + "' missing from: " + message);
        }
        return e;
    }

    /** The worker still answers: a greedy NextText from a fresh prompt, released again. */
    void assertServes(TableOneServer s) {
        WorkerGrpc.WorkerBlockingStub stub = stub(s);
        String state = open(stub);
        var segment = stub.nextText(nextText(state).build());
        assertTrue(!segment.getText().isEmpty() && segment.getStepsCount() > 0, segment.toString());
        stub.release(ReleaseRequest.newBuilder().setModel("A").addStates(state).addAllStates(segment.getStepsList()
                .stream().map(t -> t.getState()).toList()).build());
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        RemoteSourceModelTest.assertMessage(call, parts);
    }
}
