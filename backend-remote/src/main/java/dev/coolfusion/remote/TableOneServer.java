package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.remote.proto.AppendRequest;
import dev.coolfusion.remote.proto.Candidate;
import dev.coolfusion.remote.proto.CommitAndReleaseRequest;
import dev.coolfusion.remote.proto.CommitRequest;
import dev.coolfusion.remote.proto.DecodeRequest;
import dev.coolfusion.remote.proto.DecodeResponse;
import dev.coolfusion.remote.proto.DescribeRequest;
import dev.coolfusion.remote.proto.DescribeResponse;
import dev.coolfusion.remote.proto.Empty;
import dev.coolfusion.remote.proto.EncodeRequest;
import dev.coolfusion.remote.proto.EncodeResponse;
import dev.coolfusion.remote.proto.ExportTokenizerRequest;
import dev.coolfusion.remote.proto.IsSpecialRequest;
import dev.coolfusion.remote.proto.IsSpecialResponse;
import dev.coolfusion.remote.proto.ModelInfo;
import dev.coolfusion.remote.proto.NextTextRequest;
import dev.coolfusion.remote.proto.NextTextResponse;
import dev.coolfusion.remote.proto.NextTokenRequest;
import dev.coolfusion.remote.proto.NllAtTemperaturesRequest;
import dev.coolfusion.remote.proto.NllAtTemperaturesResponse;
import dev.coolfusion.remote.proto.OpenRequest;
import dev.coolfusion.remote.proto.RegisterTokenizerRequest;
import dev.coolfusion.remote.proto.RegisterTokenizerResponse;
import dev.coolfusion.remote.proto.ReleaseRequest;
import dev.coolfusion.remote.proto.ScoreRequest;
import dev.coolfusion.remote.proto.ScoreResponse;
import dev.coolfusion.remote.proto.Scored;
import dev.coolfusion.remote.proto.StateReply;
import dev.coolfusion.remote.proto.TokenizerFiles;
import dev.coolfusion.remote.proto.TokenizerRef;
import dev.coolfusion.remote.proto.WorkerGrpc;
import dev.coolfusion.segment.SegmentGenerator;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.serving.ServerLimits.Limit;
import dev.coolfusion.spi.Alignment;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.Sampling;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * A worker: serves {@link SourceModel}s over gRPC with the Table-1 protocol ({@code coolfusion.worker.v1.Worker}, see
 * {@code src/main/proto/coolfusion/worker/v1/worker.proto}), for the {@code remote} provider
 * ({@link RemoteSourceModelProvider}) to use from another process or machine. Besides Table 1's calls it runs T1 itself
 * ({@code NextText}, with {@link SegmentGenerator} and the tokenizers of every source of the client's fusion), so a
 * fused step costs a client three calls per worker: NextText, Score, CommitAndRelease.
 *
 * <p>Binds to the loopback interface unless told otherwise. Calls on one model are serialised (the SPI allows one
 * thread per state lineage; clients of one server may share a model). The server keeps track of every state it handed
 * out: a state no call has used for the {@linkplain Builder#stateTtl(Duration) state time-to-live} (10 minutes by
 * default) is released, and every state still held is released when the server closes. It does not close the models,
 * which stay the caller's.
 *
 * <p>With an {@linkplain Builder#apiKey(String) API key}, every call must carry the metadata
 * {@code authorization: Bearer <key>}; others get {@code UNAUTHENTICATED}. With a {@linkplain Builder#tls(Path, Path)
 * certificate and key} it speaks TLS. It also serves the standard health service ({@code grpc.health.v1.Health},
 * without a key) and server reflection ({@code grpc.reflection.v1}).
 *
 * <p>No call can make the server allocate without bound: messages larger than
 * {@link ServerLimits#maxBodyBytes()} are refused by gRPC ({@code RESOURCE_EXHAUSTED}), and the other
 * {@linkplain Builder#limits(ServerLimits) limits} (candidates per Score, tokens per candidate and per call, live states
 * per server and per client) are checked before a model runs, answered with {@code RESOURCE_EXHAUSTED} and a message
 * that names the limit, its value and the option that raises it. Bad input (an id outside the vocabulary, a missing
 * field, an unknown or expired state) gets {@code INVALID_ARGUMENT} or {@code NOT_FOUND} naming the field; the worker
 * keeps serving. A call whose client gives up (deadline, cancellation) stops: NextText checks before every token.
 */
public final class TableOneServer implements AutoCloseable {
    /** The protocol version {@code Describe} answers. */
    public static final int PROTOCOL = 1;
    /** The {@code Worker} service's full name, as the health service knows it. */
    public static final String SERVICE = WorkerGrpc.SERVICE_NAME;
    /** Trailing metadata of a FAILED_PRECONDITION NextText: one value per tokenizer digest the worker lacks. */
    public static final Metadata.Key<String> UNKNOWN_TOKENIZER = Metadata.Key.of("coolfusion-unknown-tokenizer",
            Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    /** How many expired state ids each model remembers. */
    private static final int EXPIRED_REMEMBERED = 4096;
    /** The most tokenizers one NextText may name. */
    static final int MAX_TOKENIZERS = 64;
    private static final Context.Key<Client> CLIENT = Context.key("coolfusion-client");

    private final Map<String, Served> models;
    private final Server grpc;
    private final HealthStatusManager health = new HealthStatusManager();
    private final ExecutorService executor;
    private final Optional<byte[]> authorization;
    private final ServerLimits limits;
    private final Quota quota;
    private final Duration stateTtl;
    private final LongSupplier nanoClock;
    private final ScheduledExecutorService sweeper;
    private final TokenizerRegistry tokenizers;
    private final boolean tls;
    private final LongAdder requests = new LongAdder();
    private final Map<String, LongAdder> perMethod = new ConcurrentHashMap<>();
    private final AtomicLong expired = new AtomicLong();
    private boolean started;

    /** One model and the states it issued through this server, each with when a call last used it and its client. */
    private static final class Served {
        final String name;
        final SourceModel model;
        /** Ids are 0 until this; empty when the model does not tell its vocabulary size. */
        final OptionalInt vocabulary;
        final Map<String, Live> live = new HashMap<>();
        final Set<String> recentlyExpired = Collections.newSetFromMap(new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > EXPIRED_REMEMBERED;
            }
        });

        Served(String name, SourceModel model, OptionalInt vocabulary) {
            this.name = name;
            this.model = model;
            this.vocabulary = vocabulary;
        }
    }

    private static final class Live {
        long used;
        final String client;

        Live(long used, String client) {
            this.used = used;
            this.client = client;
        }
    }

    /** Who a call counts against for the per-client limit: the API key when the server has one, else the address. */
    private record Client(String id, String description) {}

    /** A refusal with its gRPC status code. */
    private static final class Refused extends RuntimeException {
        final Status.Code code;
        final Metadata trailers;

        Refused(Status.Code code, String message) {
            this(code, message, new Metadata());
        }

        Refused(Status.Code code, String message, Metadata trailers) {
            super(message);
            this.code = code;
            this.trailers = trailers;
        }
    }

    private TableOneServer(Builder b, InetSocketAddress address) {
        this.models = new LinkedHashMap<>();
        b.models.forEach((name, model) -> this.models.put(name, new Served(name, model,
                b.vocabularies.containsKey(name) ? OptionalInt.of(b.vocabularies.get(name)) : model.vocabularySize())));
        this.authorization = b.apiKey.map(key -> ("Bearer " + key).getBytes(StandardCharsets.UTF_8));
        this.limits = b.limits;
        this.quota = new Quota(b.limits);
        this.stateTtl = b.stateTtl;
        this.nanoClock = b.nanoClock;
        this.tls = b.tlsCert != null;
        this.tokenizers = new TokenizerRegistry(b.models.values().stream().map(SourceModel::codec).toList(),
                b.tokenizerCache, b.maxTokenizers);
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newFixedThreadPool(b.threads, r -> {
            Thread t = new Thread(r, "worker-call-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ServerCredentials credentials;
        try {
            credentials = tls ? TlsServerCredentials.create(b.tlsCert.toFile(), b.tlsKey.toFile())
                    : InsecureServerCredentials.create();
        } catch (IOException | RuntimeException e) {
            tokenizers.close();
            executor.shutdownNow();
            throw new FusionException("cannot read the TLS certificate " + b.tlsCert + " and key " + b.tlsKey + ": "
                    + e.getMessage() + " (PEM files: the certificate chain, and a PKCS#8 private key)", e);
        }
        this.grpc = NettyServerBuilder.forAddress(address, credentials)
                .executor(executor)
                .maxInboundMessageSize((int) Math.min(Integer.MAX_VALUE, limits.maxBodyBytes()))
                .maxInboundMetadataSize(64 << 10)
                .addService(ServerInterceptors.intercept(strictlyParsed(new Service().bindService()), new Gate()))
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                .build();
        if (stateTtl.isZero()) {
            this.sweeper = null;
        } else {
            this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "worker-state-expiry");
                t.setDaemon(true);
                return t;
            });
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Starts answering calls. */
    public synchronized TableOneServer start() {
        if (!started) {
            try {
                grpc.start();
            } catch (IOException e) {
                InetSocketAddress a = boundAddressOrNull();
                String where = a == null ? "the given address" : a.getHostString() + ":" + a.getPort();
                boolean notHere = String.valueOf(e.getMessage()).contains("assign requested address")
                        || (e.getCause() != null && String.valueOf(e.getCause().getMessage()).contains("assign requested"));
                close();
                throw new FusionException("cannot listen on " + where + " (" + e.getMessage() + "); " + (notHere
                        ? "it is not an address of this machine: give --host 127.0.0.1, 0.0.0.0 (every interface) or"
                                + " one of its interface addresses"
                        : "choose another --port, or stop what is using it"), e);
            }
            health.setStatus("", io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
            health.setStatus(SERVICE, io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
            if (sweeper != null) {
                long every = Math.max(1000, stateTtl.toMillis() / 4);
                sweeper.scheduleWithFixedDelay(this::expireIdleStates, every, every, TimeUnit.MILLISECONDS);
            }
            started = true;
        }
        return this;
    }

    private InetSocketAddress boundAddressOrNull() {
        try {
            for (SocketAddress a : grpc.getListenSockets()) {
                if (a instanceof InetSocketAddress inet) {
                    return inet;
                }
            }
        } catch (IllegalStateException notStarted) {
            // fall through
        }
        return null;
    }

    /**
     * Where clients reach this server: {@code http://127.0.0.1:8765} ({@code https://...} with TLS), the
     * {@code remote} provider's {@code url}.
     */
    public URI uri() {
        InetSocketAddress a = boundAddressOrNull();
        if (a == null) {
            throw new IllegalStateException("the server is not started");
        }
        String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return URI.create((tls ? "https" : "http") + "://" + host + ":" + a.getPort());
    }

    /** The served models' names, in order. */
    public List<String> modelNames() {
        return List.copyOf(models.keySet());
    }

    /** How many Worker calls this server has received, answered or refused (health checks not counted). */
    public long requestCount() {
        return requests.sum();
    }

    /** {@link #requestCount()} by method name ({@code NextText}, {@code Score}, ...), for monitoring. */
    public Map<String, Long> requestCounts() {
        Map<String, Long> out = new TreeMap<>();
        perMethod.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    /** How many states clients hold on {@code model} (issued and not yet released). */
    public int liveStates(String model) {
        Served s = models.get(requireNonNull(model, "model is null"));
        if (s == null) {
            throw new IllegalArgumentException("not served: " + model);
        }
        synchronized (s) {
            return s.live.size();
        }
    }

    /** How many states clients hold on this server, over all its models. */
    public int liveStates() {
        return quota.total();
    }

    /** The limits this server enforces. */
    public ServerLimits limits() {
        return limits;
    }

    /** The vocabulary size the server checks {@code model}'s token ids against; empty when it does not know it. */
    public OptionalInt vocabularySize(String model) {
        Served s = models.get(requireNonNull(model, "model is null"));
        if (s == null) {
            throw new IllegalArgumentException("not served: " + model);
        }
        return s.vocabulary;
    }

    /** How many tokenizers clients registered (or named by folder) that are held besides the models' own. */
    public int registeredTokenizers() {
        return tokenizers.size();
    }

    /** How many states this server released because no call used them for the state time-to-live. */
    public long expiredStates() {
        return expired.get();
    }

    /**
     * Releases every state that no call has used for longer than the state time-to-live. The server does this by itself
     * every quarter of that time (at least every second); this runs it now.
     *
     * @return how many states were released
     */
    public int expireIdleStates() {
        if (stateTtl.isZero()) {
            return 0;
        }
        long now = nanoClock.getAsLong();
        long ttl = stateTtl.toNanos();
        int n = 0;
        for (Served s : models.values()) {
            synchronized (s) {
                List<StateHandle> idle = new ArrayList<>();
                s.live.forEach((id, live) -> {
                    if (now - live.used > ttl) {
                        idle.add(new StateHandle(id));
                    }
                });
                for (StateHandle h : idle) {
                    quota.free(s.live.remove(h.id()).client, 1);
                    s.recentlyExpired.add(h.id());
                }
                if (!idle.isEmpty()) {
                    s.model.release(idle);
                    n += idle.size();
                }
            }
        }
        expired.addAndGet(n);
        return n;
    }

    /** Stops listening (cancelling calls in progress), then releases every state clients still hold. */
    @Override
    public void close() {
        health.enterTerminalState();
        grpc.shutdownNow();
        try {
            grpc.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        executor.shutdownNow();
        if (sweeper != null) {
            sweeper.shutdownNow();
        }
        for (Served s : models.values()) {
            synchronized (s) {
                s.model.release(s.live.keySet().stream().map(StateHandle::new).toList());
                s.live.forEach((id, live) -> quota.free(live.client, 1));
                s.live.clear();
            }
        }
        tokenizers.close();
    }

    // ------------------------------------------------------------------------------------------------ calls

    /** Counts calls, checks the API key and tells the service who the client is. */
    private final class Gate implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                ServerCallHandler<Q, R> next) {
            requests.increment();
            perMethod.computeIfAbsent(call.getMethodDescriptor().getBareMethodName(), k -> new LongAdder()).increment();
            Client client;
            if (authorization.isPresent()) {
                String given = headers.get(AUTHORIZATION);
                byte[] bytes = given == null ? new byte[0] : given.getBytes(StandardCharsets.UTF_8);
                if (!MessageDigest.isEqual(bytes, authorization.get())) {
                    call.close(Status.UNAUTHENTICATED.withDescription((given == null ? "missing" : "wrong")
                            + " API key: this worker requires the metadata 'authorization: Bearer <key>' (set the"
                            + " remote provider's 'api-key' option to the key given to cool-fusion worker)"),
                            new Metadata());
                    return new ServerCall.Listener<>() {};
                }
                client = new Client("api-key", "the holders of this worker's API key");
            } else {
                SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
                String host = remote instanceof InetSocketAddress inet && inet.getAddress() != null
                        ? inet.getAddress().getHostAddress() : String.valueOf(remote);
                client = new Client("address:" + host, "client " + host);
            }
            return Contexts.interceptCall(Context.current().withValue(CLIENT, client), call, headers, next);
        }
    }

    /**
     * The service with each request parsed by the method itself, so that a message that is not the method's protobuf
     * gets INVALID_ARGUMENT naming the method (gRPC's own parsing would answer UNKNOWN, "Application error").
     */
    private static ServerServiceDefinition strictlyParsed(ServerServiceDefinition service) {
        ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(service.getServiceDescriptor().getName());
        for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
            b.addMethod(strictlyParsed(method));
        }
        return b.build();
    }

    private static <Q, R> ServerMethodDefinition<byte[], R> strictlyParsed(ServerMethodDefinition<Q, R> method) {
        MethodDescriptor<Q, R> typed = method.getMethodDescriptor();
        MethodDescriptor<byte[], R> raw = typed.toBuilder(new RawBytes(), typed.getResponseMarshaller()).build();
        ServerCallHandler<byte[], R> handler = (call, headers) -> {
            ServerCall<Q, R> typedCall = new ServerCall<>() {
                @Override
                public void request(int numMessages) {
                    call.request(numMessages);
                }

                @Override
                public void sendHeaders(Metadata h) {
                    call.sendHeaders(h);
                }

                @Override
                public void sendMessage(R message) {
                    call.sendMessage(message);
                }

                @Override
                public void close(Status status, Metadata trailers) {
                    call.close(status, trailers);
                }

                @Override
                public boolean isCancelled() {
                    return call.isCancelled();
                }

                @Override
                public boolean isReady() {
                    return call.isReady();
                }

                @Override
                public void setMessageCompression(boolean enabled) {
                    call.setMessageCompression(enabled);
                }

                @Override
                public void setCompression(String compressor) {
                    call.setCompression(compressor);
                }

                @Override
                public io.grpc.Attributes getAttributes() {
                    return call.getAttributes();
                }

                @Override
                public String getAuthority() {
                    return call.getAuthority();
                }

                @Override
                public MethodDescriptor<Q, R> getMethodDescriptor() {
                    return typed;
                }
            };
            ServerCall.Listener<Q> inner = method.getServerCallHandler().startCall(typedCall, headers);
            return new ServerCall.Listener<>() {
                private boolean refused;

                @Override
                public void onMessage(byte[] message) {
                    if (refused) {
                        return;
                    }
                    Q parsed;
                    try {
                        parsed = typed.getRequestMarshaller().parse(new java.io.ByteArrayInputStream(message));
                    } catch (RuntimeException e) {
                        refused = true;
                        Throwable why = e.getCause() != null ? e.getCause() : e;
                        call.close(Status.INVALID_ARGUMENT.withDescription("malformed " + typed.getBareMethodName()
                                + " message (not a " + typed.getBareMethodName() + " request of "
                                + "coolfusion.worker.v1): " + why.getMessage()), new Metadata());
                        return;
                    }
                    inner.onMessage(parsed);
                }

                @Override
                public void onHalfClose() {
                    if (!refused) {
                        inner.onHalfClose();
                    }
                }

                @Override
                public void onCancel() {
                    inner.onCancel();
                }

                @Override
                public void onComplete() {
                    inner.onComplete();
                }

                @Override
                public void onReady() {
                    if (!refused) {
                        inner.onReady();
                    }
                }
            };
        };
        return ServerMethodDefinition.create(raw, handler);
    }

    /** A message as its bytes (the size limit still applies: gRPC checks it before this runs). */
    private static final class RawBytes implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public java.io.InputStream stream(byte[] value) {
            return new java.io.ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(java.io.InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("cannot read a message: " + e.getMessage()).asRuntimeException();
            }
        }
    }

    /** Runs one call: its answer, or its refusal as a status with a clear message. */
    private static <T> void answer(StreamObserver<T> observer, Supplier<T> call) {
        T reply;
        try {
            reply = call.get();
        } catch (Refused e) {
            observer.onError(Status.fromCode(e.code).withDescription(e.getMessage()).asRuntimeException(e.trailers));
            return;
        } catch (StatusRuntimeException e) {
            observer.onError(e);
            return;
        } catch (FusionException | IllegalArgumentException e) {
            observer.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (IllegalStateException e) {
            observer.onError(Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (RuntimeException e) {
            observer.onError(Status.INTERNAL.withDescription("worker error: " + e).withCause(e).asRuntimeException());
            return;
        }
        observer.onNext(reply);
        observer.onCompleted();
    }

    private final class Service extends WorkerGrpc.WorkerImplBase {
        @Override
        public void describe(DescribeRequest request, StreamObserver<DescribeResponse> observer) {
            answer(observer, () -> {
                DescribeResponse.Builder b = DescribeResponse.newBuilder().setProtocol(PROTOCOL);
                models.values().forEach(s -> b.addModels(info(s)));
                return b.build();
            });
        }

        @Override
        public void open(OpenRequest r, StreamObserver<StateReply> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                List<Integer> tokens = r.getTokensList();
                if (tokens.isEmpty()) {
                    throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'tokens' is empty: open needs the prompt's"
                            + " token ids");
                }
                perRequest("Open has " + tokens.size() + " tokens", tokens.size());
                tokenIds(s, "tokens", tokens);
                synchronized (s) {
                    try (Reservation held = quota.reserve(client(), 1, "Open")) {
                        return StateReply.newBuilder().setState(issue(s, s.model.open(tokens), held)).build();
                    }
                }
            });
        }

        @Override
        public void nextToken(NextTokenRequest r, StreamObserver<dev.coolfusion.remote.proto.TokenStep> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                if (!r.hasDecoding()) {
                    throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'decoding' is missing: NextToken needs"
                            + " temperature, top_p and uniform (greedy: temperature 0, top_p 1, uniform 0)");
                }
                Decoding decoding = decoding(r.getDecoding());
                synchronized (s) {
                    StateHandle state = known(s, r.getState(), "state");
                    try (Reservation held = quota.reserve(client(), 1, "NextToken")) {
                        TokenStep step = s.model.nextToken(state, decoding);
                        return step(step.token(), step.logProb(), issue(s, step.state(), held));
                    }
                }
            });
        }

        @Override
        public void nextText(NextTextRequest r, StreamObserver<NextTextResponse> observer) {
            answer(observer, () -> TableOneServer.this.nextText(r));
        }

        @Override
        public void score(ScoreRequest r, StreamObserver<ScoreResponse> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                List<List<Integer>> candidates = candidates(s, r.getCandidatesList());
                synchronized (s) {
                    StateHandle state = known(s, r.getState(), "state");
                    try (Reservation held = quota.reserve(client(), candidates.size(), "Score")) {
                        List<ScoredTokens> scored = s.model.score(state, candidates);
                        if (scored.size() != candidates.size()) {
                            throw new IllegalStateException("model '" + s.name + "' scored " + scored.size()
                                    + " candidates of " + candidates.size());
                        }
                        ScoreResponse.Builder out = ScoreResponse.newBuilder();
                        for (ScoredTokens t : scored) {
                            out.addResults(Scored.newBuilder().addAllLogProbs(t.logProbs())
                                    .setState(issue(s, t.state(), held)));
                        }
                        return out.build();
                    }
                }
            });
        }

        @Override
        public void append(AppendRequest r, StreamObserver<StateReply> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                List<Integer> tokens = r.getTokensList();
                tokensPerCandidate("Append has " + tokens.size() + " tokens", tokens.size());
                perRequest("Append has " + tokens.size() + " tokens", tokens.size());
                tokenIds(s, "tokens", tokens);
                synchronized (s) {
                    StateHandle state = known(s, r.getState(), "state");
                    try (Reservation held = quota.reserve(client(), 1, "Append")) {
                        return StateReply.newBuilder().setState(issue(s, s.model.append(state, tokens), held)).build();
                    }
                }
            });
        }

        @Override
        public void commit(CommitRequest r, StreamObserver<Empty> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                synchronized (s) {
                    s.model.commit(known(s, r.getState(), "state"));
                }
                return Empty.getDefaultInstance();
            });
        }

        @Override
        public void release(ReleaseRequest r, StreamObserver<Empty> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                synchronized (s) {
                    List<StateHandle> gone = forget(s, r.getStatesList());
                    if (!gone.isEmpty()) {
                        s.model.release(gone);
                    }
                }
                return Empty.getDefaultInstance();
            });
        }

        @Override
        public void commitAndRelease(CommitAndReleaseRequest r, StreamObserver<Empty> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                synchronized (s) {
                    StateHandle kept = known(s, r.getState(), "state");
                    List<String> others = new ArrayList<>(r.getStatesList());
                    others.remove(kept.id()); // the kept state stays tracked even if the client lists it
                    s.model.commitAndRelease(kept, forget(s, others));
                }
                return Empty.getDefaultInstance();
            });
        }

        @Override
        public void nllAtTemperatures(NllAtTemperaturesRequest r, StreamObserver<NllAtTemperaturesResponse> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                List<Integer> tokens = r.getTokensList();
                tokensPerCandidate("NllAtTemperatures has " + tokens.size() + " tokens", tokens.size());
                perRequest("NllAtTemperatures has " + tokens.size() + " tokens", tokens.size());
                tokenIds(s, "tokens", tokens);
                double[] temperatures = r.getTemperaturesList().stream().mapToDouble(Double::doubleValue).toArray();
                if (temperatures.length > limits.maxTokensPerRequest()) {
                    throw new Refused(Status.Code.RESOURCE_EXHAUSTED, limits.refusal(Limit.TOKENS_PER_REQUEST,
                            "NllAtTemperatures has " + temperatures.length + " temperatures", ""));
                }
                synchronized (s) {
                    Optional<double[]> nll = s.model.nllAtTemperatures(known(s, r.getState(), "state"), tokens,
                            temperatures);
                    NllAtTemperaturesResponse.Builder out = NllAtTemperaturesResponse.newBuilder()
                            .setSupported(nll.isPresent());
                    nll.ifPresent(v -> {
                        for (double x : v) {
                            out.addNll(x);
                        }
                    });
                    return out.build();
                }
            });
        }

        @Override
        public void encode(EncodeRequest r, StreamObserver<EncodeResponse> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                TextCodec codec = s.model.codec();
                Encoded e = r.getContinuation() ? codec.encodeContinuation(r.getText()) : codec.encode(r.getText());
                EncodeResponse.Builder out = EncodeResponse.newBuilder().setText(e.text()).addAllIds(e.ids())
                        .addAllTokens(e.tokens());
                for (Span w : e.words()) {
                    out.addWords(dev.coolfusion.remote.proto.Span.newBuilder().setStart(w.start()).setEnd(w.end()));
                }
                return out.build();
            });
        }

        @Override
        public void decode(DecodeRequest r, StreamObserver<DecodeResponse> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                List<Integer> ids = r.getIdsList();
                perRequest("Decode has " + ids.size() + " ids", ids.size());
                tokenIds(s, "ids", ids);
                TextCodec codec = s.model.codec();
                return DecodeResponse.newBuilder()
                        .setText(r.getContinuation() ? codec.decodeContinuation(ids) : codec.decode(ids)).build();
            });
        }

        @Override
        public void isSpecial(IsSpecialRequest r, StreamObserver<IsSpecialResponse> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                List<Integer> ids = r.getIdsList();
                perRequest("IsSpecial has " + ids.size() + " ids", ids.size());
                IsSpecialResponse.Builder out = IsSpecialResponse.newBuilder();
                for (int id : ids) {
                    out.addSpecial(s.model.codec().isSpecial(id));
                }
                return out.build();
            });
        }

        @Override
        public void registerTokenizer(RegisterTokenizerRequest r, StreamObserver<RegisterTokenizerResponse> observer) {
            answer(observer, () -> {
                if (!r.hasTokenizer()) {
                    throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'tokenizer' is missing");
                }
                return RegisterTokenizerResponse.newBuilder().setDigest(tokenizers.register(r.getTokenizer())).build();
            });
        }

        @Override
        public void exportTokenizer(ExportTokenizerRequest r, StreamObserver<TokenizerFiles> observer) {
            answer(observer, () -> {
                Served s = served(r.getModel());
                return TokenizerTransfer.of(s.model.codec()).orElseThrow(() -> new Refused(Status.Code.UNIMPLEMENTED,
                        "model '" + s.name + "' has no tokenizer files to export (not a Hugging Face tokenizer loaded"
                                + " from a folder)"));
            });
        }
    }

    /** T1 on the worker: resolves the fusion's tokenizers, then runs {@link SegmentGenerator#propose}. */
    private NextTextResponse nextText(NextTextRequest r) {
        Served s = served(r.getModel());
        int count = r.getTokenizersCount();
        if (count == 0) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'tokenizers' is empty: name every tokenizer of the"
                    + " fusion, in source order");
        }
        if (count > MAX_TOKENIZERS) {
            throw new Refused(Status.Code.RESOURCE_EXHAUSTED, "NextText names " + count + " tokenizers, more than this"
                    + " worker's " + MAX_TOKENIZERS);
        }
        if (r.getSelf() < 0 || r.getSelf() >= count) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'self' must index 'tokenizers' (0.." + (count - 1)
                    + "), got " + r.getSelf());
        }
        if (r.getMaxSegmentTokens() < 1 || r.getMaxSegmentTokens() > limits.maxTokensPerCandidate()) {
            throw new Refused(r.getMaxSegmentTokens() < 1 ? Status.Code.INVALID_ARGUMENT : Status.Code.RESOURCE_EXHAUSTED,
                    r.getMaxSegmentTokens() < 1 ? "field 'max_segment_tokens' must be at least 1, got "
                            + r.getMaxSegmentTokens()
                            : limits.refusal(Limit.TOKENS_PER_CANDIDATE, "NextText's max_segment_tokens is "
                                    + r.getMaxSegmentTokens(), ""));
        }
        if (r.getRoom() < 0) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'room' must be >= 0, got " + r.getRoom());
        }
        if (!r.hasSampling()) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'sampling' is missing (greedy: temperature 0, top_p 1)");
        }
        if (r.getAheadCount() > limits.maxTokensPerCandidate()) {
            throw new Refused(Status.Code.RESOURCE_EXHAUSTED, limits.refusal(Limit.TOKENS_PER_CANDIDATE, "NextText has "
                    + r.getAheadCount() + " ahead tokens", ""));
        }
        var sp = r.getSampling();
        Sampling sampling;
        try {
            sampling = new Sampling(sp.getTemperature(), sp.getTopP(), sp.getSeed(), sp.getStep(), sp.getSource());
        } catch (IllegalArgumentException e) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'sampling' is invalid: " + e.getMessage());
        }
        List<TextCodec> codecs = new ArrayList<>();
        Metadata unknown = new Metadata();
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            TokenizerRef ref = r.getTokenizers(i);
            if (i == r.getSelf()) {
                codecs.add(s.model.codec());
                continue;
            }
            Optional<TextCodec> codec = tokenizers.resolve(ref.getDigest(), ref.getFolder());
            if (codec.isEmpty()) {
                String d = ref.getDigest().isEmpty() ? "(no digest)" : TokenizerTransfer.abbreviate(ref.getDigest());
                missing.add(d);
                unknown.put(UNKNOWN_TOKENIZER, ref.getDigest().matches("[0-9a-f]{64}") ? ref.getDigest() : "invalid");
            } else {
                codecs.add(codec.get());
            }
        }
        if (!missing.isEmpty()) {
            throw new Refused(Status.Code.FAILED_PRECONDITION, "unknown tokenizer " + String.join(", ", missing)
                    + ": register it (RegisterTokenizer with its files) and retry", unknown);
        }
        Client client = client();
        Context context = Context.current();
        synchronized (s) {
            StateHandle from = known(s, r.getState(), "state");
            List<TokenStep> ahead = new ArrayList<>();
            for (int i = 0; i < r.getAheadCount(); i++) {
                var a = r.getAhead(i);
                tokenIds(s, "ahead[" + i + "].token", List.of(a.getToken()));
                ahead.add(new TokenStep(a.getToken(), a.getLogProb(), known(s, a.getState(), "ahead[" + i + "].state")));
            }
            SegmentRequest request = new SegmentRequest(from, ahead, r.getRoom(), codecs, r.getSelf(),
                    choice(r.getChoiceValue()), alignment(r.getAlignmentValue()), r.getMaxSegmentTokens(), sampling);
            Tracked tracked = new Tracked(s, client, context);
            ProposedSegment segment = null;
            try {
                segment = SegmentGenerator.propose(tracked, request);
                // A model that runs T1 itself issued its states without passing through Tracked.nextToken.
                try (Reservation held = quota.reserve(client, 0, "NextText")) {
                    for (TokenStep step : segment.steps()) {
                        if (!s.live.containsKey(step.state().id())) {
                            quota.take(client, 1, "NextText");
                            held.add(1);
                            issue(s, step.state(), held);
                        }
                    }
                }
            } catch (RuntimeException e) {
                List<StateHandle> gone = forget(s, tracked.issued.stream().map(StateHandle::id).toList());
                if (!gone.isEmpty()) {
                    s.model.release(gone);
                }
                if (segment != null) {
                    // States the model's own T1 issued (not the replayed look-ahead, which the client holds): the
                    // client never learns them, so none may stay live or counted against it.
                    Set<String> replayed = new HashSet<>();
                    ahead.forEach(a -> replayed.add(a.state().id()));
                    List<StateHandle> fresh = segment.steps().stream().map(TokenStep::state)
                            .filter(h -> !replayed.contains(h.id())).toList();
                    forget(s, fresh.stream().map(StateHandle::id).toList());
                    s.model.release(fresh);
                }
                throw e;
            }
            NextTextResponse.Builder out = NextTextResponse.newBuilder().setText(segment.text())
                    .setEndOfSequence(segment.endOfSequence()).setSegmentTokens(segment.segmentTokens())
                    .setContextFull(segment.contextFull());
            for (TokenStep step : segment.steps()) {
                out.addSteps(step(step.token(), step.logProb(), step.state().id()));
            }
            return out.build();
        }
    }

    /** A segment choice from the wire; a value this worker does not know is refused, never read as the default. */
    private static SegmentChoice choice(int value) {
        return switch (value) {
            case dev.coolfusion.remote.proto.SegmentChoice.SEGMENT_CHOICE_SHORTEST_VALUE -> SegmentChoice.SHORTEST;
            case dev.coolfusion.remote.proto.SegmentChoice.SEGMENT_CHOICE_LONGEST_VALUE -> SegmentChoice.LONGEST;
            default -> throw new Refused(Status.Code.INVALID_ARGUMENT, "unknown segment choice " + value
                    + ": this worker knows SEGMENT_CHOICE_SHORTEST and SEGMENT_CHOICE_LONGEST (update the worker)");
        };
    }

    /** An alignment from the wire; a value this worker does not know is refused. */
    private static Alignment alignment(int value) {
        return switch (value) {
            case dev.coolfusion.remote.proto.Alignment.ALIGNMENT_ALL_VALUE -> Alignment.COMMON;
            case dev.coolfusion.remote.proto.Alignment.ALIGNMENT_OWN_VALUE -> Alignment.OWN;
            default -> throw new Refused(Status.Code.INVALID_ARGUMENT, "unknown alignment " + value
                    + ": this worker knows ALIGNMENT_ALL and ALIGNMENT_OWN (update the worker)");
        };
    }

    /** The served model as T1 sees it: each token counted against the client's live states, and cancellable. */
    private final class Tracked implements SourceModel {
        final Served s;
        final Client client;
        final Context context;
        final List<StateHandle> issued = new ArrayList<>();

        Tracked(Served s, Client client, Context context) {
            this.s = s;
            this.client = client;
            this.context = context;
        }

        @Override
        public String name() {
            return s.name;
        }

        @Override
        public TextCodec codec() {
            return s.model.codec();
        }

        @Override
        public OptionalInt maxContextTokens() {
            return s.model.maxContextTokens();
        }

        @Override
        public Optional<ProposedSegment> nextText(SegmentRequest request) {
            return s.model.nextText(request);
        }

        @Override
        public TokenStep nextToken(StateHandle state, Decoding decoding) {
            if (context.isCancelled()) {
                Throwable why = context.cancellationCause();
                throw new Refused(Status.Code.CANCELLED, "NextText stopped after " + issued.size() + " tokens: the client"
                        + " gave up (" + (why == null ? "cancelled" : why.getMessage()) + ")");
            }
            try (Reservation held = quota.reserve(client, 1, "NextText")) {
                TokenStep step = s.model.nextToken(state, decoding);
                issue(s, step.state(), held);
                issued.add(step.state());
                return step;
            }
        }

        @Override
        public StateHandle open(List<Integer> promptTokens) {
            throw new UnsupportedOperationException("T1 only generates");
        }

        @Override
        public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
            throw new UnsupportedOperationException("T1 only generates");
        }

        @Override
        public void commit(StateHandle temporary) {
            throw new UnsupportedOperationException("T1 only generates");
        }

        @Override
        public void release(Collection<StateHandle> states) {
            throw new UnsupportedOperationException("T1 only generates");
        }
    }

    private static dev.coolfusion.remote.proto.TokenStep step(int token, double logProb, String state) {
        return dev.coolfusion.remote.proto.TokenStep.newBuilder().setToken(token).setLogProb(logProb).setState(state)
                .build();
    }

    private Served served(String name) {
        if (name.isEmpty()) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'model' is missing; this worker serves "
                    + models.keySet());
        }
        Served s = models.get(name);
        if (s == null) {
            throw new Refused(Status.Code.NOT_FOUND, "model '" + TokenizerTransfer.abbreviate(name)
                    + "' is not served here; served: " + models.keySet());
        }
        return s;
    }

    private static Client client() {
        Client c = CLIENT.get();
        return c == null ? new Client("unknown", "an unknown client") : c;
    }

    private static Decoding decoding(dev.coolfusion.remote.proto.Decoding d) {
        try {
            return new Decoding(d.getTemperature(), d.getTopP(), d.getUniform());
        } catch (IllegalArgumentException e) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field 'decoding' is invalid: " + e.getMessage()
                    + " (greedy: temperature 0, top_p 1, uniform 0)");
        }
    }

    private List<List<Integer>> candidates(Served s, List<Candidate> given) {
        if (given.size() > limits.maxCandidates()) {
            throw new Refused(Status.Code.RESOURCE_EXHAUSTED, limits.refusal(Limit.CANDIDATES, "Score has "
                    + given.size() + " candidates", "split them over several calls"));
        }
        int longest = 0;
        List<List<Integer>> out = new ArrayList<>();
        for (int i = 0; i < given.size(); i++) {
            List<Integer> c = given.get(i).getTokensList();
            tokensPerCandidate("candidates[" + i + "] has " + c.size() + " tokens", c.size());
            longest = Math.max(longest, c.size());
            out.add(c);
        }
        long batch = (long) given.size() * longest;
        perRequest("Score has " + given.size() + " candidates of up to " + longest + " tokens, a batch of " + batch
                + " tokens (candidates times the longest, as a batched backend pads them)", batch);
        for (int i = 0; i < out.size(); i++) {
            tokenIds(s, "candidates[" + i + "]", out.get(i));
        }
        return out;
    }

    private void tokensPerCandidate(String what, int tokens) {
        if (tokens > limits.maxTokensPerCandidate()) {
            throw new Refused(Status.Code.RESOURCE_EXHAUSTED, limits.refusal(Limit.TOKENS_PER_CANDIDATE, what, ""));
        }
    }

    /** Refuses a call of more than {@link ServerLimits#maxTokensPerRequest} tokens. */
    private void perRequest(String what, long tokens) {
        if (tokens > limits.maxTokensPerRequest()) {
            throw new Refused(Status.Code.RESOURCE_EXHAUSTED, limits.refusal(Limit.TOKENS_PER_REQUEST, what,
                    "split it over several calls"));
        }
    }

    /** Refuses a negative token id, and one outside the model's vocabulary when the server knows its size. */
    private static void tokenIds(Served s, String field, List<Integer> ids) {
        int vocabulary = s.vocabulary.orElse(Integer.MAX_VALUE);
        for (int i = 0; i < ids.size(); i++) {
            int id = ids.get(i);
            if (id < 0 || id >= vocabulary) {
                throw new Refused(Status.Code.INVALID_ARGUMENT, "token id " + id + " (field '" + field
                        + (ids.size() > 1 || !field.endsWith("token") ? "[" + i + "]" : "") + "') is outside the"
                        + " vocabulary of model '" + s.name + "'" + (s.vocabulary.isPresent() ? ": its " + vocabulary
                        + " ids are 0.." + (vocabulary - 1) : ": ids are not negative"));
            }
        }
    }

    /** The given states this server issued, no longer tracked; unknown ones are skipped. */
    private List<StateHandle> forget(Served s, List<String> ids) {
        List<StateHandle> handles = new ArrayList<>();
        for (String id : ids) {
            Live live = s.live.remove(id);
            if (live != null) {
                quota.free(live.client, 1);
                handles.add(new StateHandle(id));
            }
        }
        return handles;
    }

    /** Tracks a state the model issued for a call, counting it against the call's reservation. */
    private String issue(Served s, StateHandle handle, Reservation held) {
        long now = nanoClock.getAsLong();
        Live before = s.live.putIfAbsent(handle.id(), new Live(now, held.client.id()));
        if (before == null) {
            held.used++;
        } else {
            before.used = now;
        }
        return handle.id();
    }

    /** A state this server issued and still holds; using it restarts its time-to-live. */
    private StateHandle known(Served s, String id, String field) {
        if (id.isEmpty()) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, "field '" + field + "' is missing");
        }
        Live live = s.live.get(id);
        if (live != null) {
            live.used = nanoClock.getAsLong();
            return new StateHandle(id);
        }
        String shown = TokenizerTransfer.abbreviate(id);
        if (s.recentlyExpired.contains(id)) {
            throw new Refused(Status.Code.NOT_FOUND, "state '" + shown + "' expired: no call used it for "
                    + stateTtl.toSeconds() + " s, the worker's state time-to-live (cool-fusion worker --state-ttl);"
                    + " open the prompt again");
        }
        throw new Refused(Status.Code.NOT_FOUND, "unknown state '" + shown + "': it was released, or was not issued"
                + " by this worker (a restarted worker forgets every state; open the prompt again)");
    }

    /**
     * States a call may issue, taken from the live-state limits before the model runs; closing it gives back what the
     * call did not issue (all of it when the model failed).
     */
    private static final class Reservation implements AutoCloseable {
        final Quota quota;
        final Client client;
        int reserved;
        int used;

        Reservation(Quota quota, Client client, int reserved) {
            this.quota = quota;
            this.client = client;
            this.reserved = reserved;
        }

        void add(int states) {
            reserved += states;
        }

        @Override
        public void close() {
            quota.free(client.id(), reserved - used);
        }
    }

    /** The live states of all clients together and of each client, against {@link ServerLimits}. */
    private static final class Quota {
        private final ServerLimits limits;
        private final Map<String, Integer> perClient = new HashMap<>();
        private int total;

        Quota(ServerLimits limits) {
            this.limits = limits;
        }

        synchronized Reservation reserve(Client client, int states, String op) {
            take(client, states, op);
            return new Reservation(this, client, states);
        }

        synchronized void take(Client client, int states, String op) {
            int mine = perClient.getOrDefault(client.id(), 0);
            String what = op + " would issue " + states + (states == 1 ? " state" : " states");
            String advice = "release the states you no longer need (Release, CommitAndRelease); states no call uses"
                    + " for the state time-to-live expire by themselves";
            if ((long) total + states > limits.maxLiveStates()) {
                throw new Refused(Status.Code.RESOURCE_EXHAUSTED, limits.refusal(Limit.LIVE_STATES, what + " while "
                        + live(total), advice));
            }
            if ((long) mine + states > limits.maxLiveStatesPerClient()) {
                throw new Refused(Status.Code.RESOURCE_EXHAUSTED, limits.refusal(Limit.LIVE_STATES_PER_CLIENT, what
                        + " while " + live(mine) + " for " + client.description(), advice));
            }
            total += states;
            perClient.merge(client.id(), states, Integer::sum);
        }

        private static String live(int n) {
            return n + (n == 1 ? " is live" : " are live");
        }

        synchronized void free(String client, int states) {
            if (states == 0) {
                return;
            }
            total -= states;
            perClient.computeIfPresent(client, (k, held) -> held == states ? null : held - states);
        }

        synchronized int total() {
            return total;
        }
    }

    private static ModelInfo info(Served s) {
        SourceModel m = s.model;
        TextCodec c = m.codec();
        ModelInfo.Builder b = ModelInfo.newBuilder().setName(s.name)
                .setMaxContext(m.maxContextTokens().orElse(0))
                .setVocabularySize(s.vocabulary.orElse(0))
                .addAllEndOfSequence(c.endOfSequenceIds().stream().sorted().toList())
                .setCodecDigest(c.digest().orElse(""))
                .setCanScore(m.canScore())
                .setTokenizerExportable(TokenizerTransfer.of(c).isPresent());
        c.beginOfSequenceId().ifPresent(b::setBeginOfSequence);
        c.chatTemplate().ifPresent(t -> b.setChatTemplate(dev.coolfusion.remote.proto.ChatTemplate.newBuilder()
                .setSource(t.source()).putAllSpecialTokens(t.specialTokens())));
        return b.build();
    }

    /** A fail-fast builder; each setter checks its value. */
    public static final class Builder {
        private final Map<String, SourceModel> models = new LinkedHashMap<>();
        private String host = InetAddress.getLoopbackAddress().getHostAddress();
        private int port;
        private int threads = 4;
        private Optional<String> apiKey = Optional.empty();
        private Duration stateTtl = Duration.ofMinutes(10);
        private ServerLimits limits = ServerLimits.DEFAULTS;
        private final Map<String, Integer> vocabularies = new HashMap<>();
        private LongSupplier nanoClock = System::nanoTime;
        private Path tlsCert;
        private Path tlsKey;
        private Optional<Path> tokenizerCache = Optional.empty();
        private int maxTokenizers = 32;

        private Builder() {}

        /** Serves {@code model} under its own {@link SourceModel#name()}. */
        public Builder model(SourceModel model) {
            requireNonNull(model, "model is null");
            return model(model.name(), model);
        }

        /** Serves {@code model} under {@code name} (letters, digits, '.', '_' and '-'). */
        public Builder model(String name, SourceModel model) {
            requireNonNull(name, "name is null");
            requireNonNull(model, "model is null");
            if (!name.matches("[A-Za-z0-9._-]+")) {
                throw new FusionException("served model name '" + name + "' must use only letters, digits, '.', '_' and '-'");
            }
            if (models.putIfAbsent(name, model) != null) {
                throw new FusionException("two served models are named '" + name + "'; give each a distinct name");
            }
            return this;
        }

        /** The interface to bind; the default is loopback. {@code 0.0.0.0} exposes the models to the network. */
        public Builder host(String host) {
            requireNonNull(host, "host is null");
            if (host.isBlank()) {
                throw new FusionException("host must not be blank; use 127.0.0.1 (default) or an interface address");
            }
            this.host = host;
            return this;
        }

        /** The port; 0 (the default) picks a free one, see {@link TableOneServer#uri()}. */
        public Builder port(int port) {
            if (port < 0 || port > 65535) {
                throw new FusionException("port must be in 0..65535, got " + port);
            }
            this.port = port;
            return this;
        }

        /** Call threads (calls on one model still run one at a time). */
        public Builder threads(int threads) {
            if (threads < 1) {
                throw new FusionException("threads must be at least 1, got " + threads);
            }
            this.threads = threads;
            return this;
        }

        /** Requires the metadata {@code authorization: Bearer <key>} on every call (no key by default). */
        public Builder apiKey(String key) {
            requireNonNull(key, "key is null");
            if (key.isEmpty() || !key.chars().allMatch(c -> c > ' ' && c < 127)) {
                throw new FusionException("an API key must be non-empty printable ASCII without spaces");
            }
            this.apiKey = Optional.of(key);
            return this;
        }

        /** Speaks TLS with this certificate chain and PKCS#8 private key (PEM files); plaintext by default. */
        public Builder tls(Path certificateChain, Path privateKey) {
            requireNonNull(certificateChain, "certificateChain is null");
            requireNonNull(privateKey, "privateKey is null");
            for (Path p : List.of(certificateChain, privateKey)) {
                if (!Files.isReadable(p)) {
                    throw new FusionException("cannot read TLS file " + p.toAbsolutePath());
                }
            }
            this.tlsCert = certificateChain;
            this.tlsKey = privateKey;
            return this;
        }

        /**
         * Where tokenizers that clients register are kept (their files, one folder per digest), so that a restarted
         * worker still knows them; default a temporary directory removed on close.
         */
        public Builder tokenizerCache(Path dir) {
            this.tokenizerCache = Optional.of(requireNonNull(dir, "dir is null"));
            return this;
        }

        /**
         * How long a state may go unused before the server releases it (default 10 minutes); {@link Duration#ZERO}
         * keeps states until a client releases them or the server closes.
         */
        public Builder stateTtl(Duration ttl) {
            requireNonNull(ttl, "ttl is null");
            if (ttl.isNegative() || (!ttl.isZero() && ttl.toMillis() < 1000)) {
                throw new FusionException("state time-to-live must be zero (never expire) or at least 1 s, got " + ttl);
            }
            this.stateTtl = ttl;
            return this;
        }

        /** What one call, one client and all clients may ask of the server (default {@link ServerLimits#DEFAULTS}). */
        public Builder limits(ServerLimits limits) {
            this.limits = requireNonNull(limits, "limits is null");
            return this;
        }

        /**
         * The vocabulary size of the model served as {@code name}, which the server checks every token id against
         * ({@code INVALID_ARGUMENT} for one outside it). Needed only for a model whose
         * {@code SourceModel.vocabularySize()} is empty.
         */
        public Builder vocabularySize(String name, int size) {
            requireNonNull(name, "name is null");
            if (size < 1) {
                throw new FusionException("vocabulary size of '" + name + "' must be at least 1, got " + size);
            }
            this.vocabularies.put(name, size);
            return this;
        }

        /** The clock the time-to-live is measured by (tests). */
        Builder nanoClock(LongSupplier clock) {
            this.nanoClock = requireNonNull(clock, "clock is null");
            return this;
        }

        public TableOneServer build() {
            if (models.isEmpty()) {
                throw new FusionException("a server needs at least one model; add one with model(...)");
            }
            for (String name : vocabularies.keySet()) {
                if (!models.containsKey(name)) {
                    throw new FusionException("vocabularySize is given for '" + name + "', which is not served; served: "
                            + models.keySet());
                }
            }
            InetSocketAddress address = new InetSocketAddress(host, port);
            if (address.isUnresolved()) {
                throw new FusionException("unknown host '" + host + "': give an address of this machine (127.0.0.1, the"
                        + " default; 0.0.0.0 for every interface; or an interface address or name)");
            }
            InetAddress ip = address.getAddress();
            boolean local = ip.isAnyLocalAddress() || ip.isLoopbackAddress();
            if (!local) {
                try {
                    local = java.net.NetworkInterface.getByInetAddress(ip) != null;
                } catch (java.net.SocketException cannotTell) {
                    local = true; // let the bind decide
                }
            }
            if (!local) {
                throw new FusionException("cannot listen on " + host + ":" + port + ": " + host + " is not an address of"
                        + " this machine: give --host 127.0.0.1, 0.0.0.0 (every interface) or one of its interface"
                        + " addresses");
            }
            return new TableOneServer(this, address);
        }
    }
}
