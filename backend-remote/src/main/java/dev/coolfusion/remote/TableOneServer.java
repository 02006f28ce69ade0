package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Serves {@link SourceModel}s over HTTP with the Table-1 protocol, for the {@code remote} provider
 * ({@link RemoteSourceModelProvider}) to use from another process or machine.
 *
 * <p>Binds to the loopback interface unless told otherwise. Calls on one model are serialised (the SPI allows one
 * thread per state lineage; clients of one server may share a model). The server keeps track of every state it handed
 * out: a state no request has used for the {@linkplain Builder#stateTtl(Duration) state time-to-live} (10 minutes by
 * default) is released, so a client that vanished without releasing its states does not keep them forever, and every
 * state still held is released when the server closes. It does not close the models, which stay the caller's.
 *
 * <p>With an {@linkplain Builder#apiKey(String) API key}, every request must carry {@code Authorization: Bearer <key>}
 * (the {@code remote} provider's {@code api-key} option); others get HTTP 401. There is no TLS: to cross an untrusted
 * network, put the server behind a TLS-terminating proxy.
 *
 * <pre>{@code
 * try (TableOneServer server = TableOneServer.builder().model(model).port(8765).build()) {
 *     server.start();
 *     // clients: provider "remote", options url=http://127.0.0.1:8765, model=<name>
 * }
 * }</pre>
 */
public final class TableOneServer implements AutoCloseable {
    static {
        // The JDK server writes a response's headers and body separately; with Nagle's algorithm on, the body waits for
        // the client's delayed ACK of the headers: about 40 ms per request on Linux loopback instead of well under one.
        // The JDK reads this property once, when its first server starts; a value the user set is kept.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    /** How many expired state ids each model remembers. */
    private static final int EXPIRED_REMEMBERED = 4096;

    private final Map<String, Served> models;
    private final HttpServer http;
    private final ExecutorService executor;
    private final Optional<byte[]> authorization;
    private final Duration stateTtl;
    private final LongSupplier nanoClock;
    private final ScheduledExecutorService sweeper;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong expired = new AtomicLong();
    private boolean started;

    /** One model and the states it issued through this server, each with when a request last used it. */
    private static final class Served {
        final SourceModel model;
        final Map<String, Long> live = new HashMap<>();
        /** The latest expired ids (at most {@link #EXPIRED_REMEMBERED}), to tell a late client why its state is gone. */
        final Set<String> recentlyExpired = Collections.newSetFromMap(new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > EXPIRED_REMEMBERED;
            }
        });

        Served(SourceModel model) {
            this.model = model;
        }
    }

    private TableOneServer(Builder b, InetSocketAddress address) {
        this.models = new LinkedHashMap<>();
        b.models.forEach((name, model) -> this.models.put(name, new Served(model)));
        this.authorization = b.apiKey.map(key -> ("Bearer " + key).getBytes(StandardCharsets.UTF_8));
        this.stateTtl = b.stateTtl;
        this.nanoClock = b.nanoClock;
        int threads = b.threads;
        try {
            this.http = HttpServer.create(address, 0);
        } catch (IOException e) {
            throw new FusionException("cannot listen on " + address.getHostString() + ":" + address.getPort() + " ("
                    + e.getMessage() + "); choose another --port, or stop what is using it", e);
        }
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "table-one-server-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        http.setExecutor(executor);
        http.createContext(Wire.MODELS, this::handle);
        if (stateTtl.isZero()) {
            this.sweeper = null;
        } else {
            this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "table-one-server-expiry");
                t.setDaemon(true);
                return t;
            });
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Starts answering requests. */
    public synchronized TableOneServer start() {
        if (!started) {
            http.start();
            if (sweeper != null) {
                long every = Math.max(1000, stateTtl.toMillis() / 4);
                sweeper.scheduleWithFixedDelay(this::expireIdleStates, every, every, TimeUnit.MILLISECONDS);
            }
            started = true;
        }
        return this;
    }

    /** Where clients reach this server, e.g. {@code http://127.0.0.1:8765}. */
    public URI uri() {
        InetSocketAddress a = http.getAddress();
        String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return URI.create("http://" + host + ":" + a.getPort());
    }

    /** The served models' names, in order. */
    public List<String> modelNames() {
        return List.copyOf(models.keySet());
    }

    /** How many requests this server has answered (for measurements). */
    public long requestCount() {
        return requests.get();
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

    /** How many states this server released because no request used them for the state time-to-live. */
    public long expiredStates() {
        return expired.get();
    }

    /**
     * Releases every state that no request has used for longer than the state time-to-live. The server does this by
     * itself every quarter of that time (at least every second); this runs it now. Does nothing when the time-to-live
     * is zero (states never expire).
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
                s.live.forEach((id, used) -> {
                    if (now - used > ttl) {
                        idle.add(new StateHandle(id));
                    }
                });
                for (StateHandle h : idle) {
                    s.live.remove(h.id());
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

    /** Stops listening, then releases every state clients still hold. The models stay open. */
    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
        if (sweeper != null) {
            sweeper.shutdownNow();
        }
        for (Served s : models.values()) {
            synchronized (s) {
                s.model.release(s.live.keySet().stream().map(StateHandle::new).toList());
                s.live.clear();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ requests

    private void handle(HttpExchange exchange) throws IOException {
        requests.incrementAndGet();
        try (exchange) {
            int status = 200;
            Object body;
            try {
                authorize(exchange);
                body = dispatch(exchange);
            } catch (BadRequest e) {
                status = e.status;
                body = new Wire.Error(e.getMessage());
            } catch (JsonProcessingException e) {
                status = 400;
                body = new Wire.Error("malformed JSON request: " + e.getOriginalMessage());
            } catch (FusionException | IllegalArgumentException | IllegalStateException e) {
                status = 400;
                body = new Wire.Error(e.getMessage());
            } catch (RuntimeException e) {
                status = 500;
                body = new Wire.Error("server error: " + e);
            }
            byte[] bytes = Wire.JSON.writeValueAsBytes(body);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    /** With an API key, the request must carry it as a bearer token (compared in constant time). */
    private void authorize(HttpExchange exchange) {
        if (authorization.isEmpty()) {
            return;
        }
        String given = exchange.getRequestHeaders().getFirst("Authorization");
        byte[] bytes = given == null ? new byte[0] : given.getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(bytes, authorization.get())) {
            throw new BadRequest(401, (given == null ? "missing" : "wrong") + " API key: this server requires the header"
                    + " 'Authorization: Bearer <key>' (set the remote provider's 'api-key' option to the key given to"
                    + " cool-fusion serve)");
        }
    }

    private static final class BadRequest extends RuntimeException {
        final int status;

        BadRequest(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    private Object dispatch(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getPath();
        String method = exchange.getRequestMethod();
        if (path.equals(Wire.MODELS) || path.equals(Wire.MODELS + "/")) {
            if (!method.equals("GET")) {
                throw new BadRequest(405, "use GET " + Wire.MODELS);
            }
            List<Wire.ModelInfo> infos = new ArrayList<>();
            models.forEach((name, s) -> infos.add(info(name, s.model)));
            return new Wire.Models(Wire.PROTOCOL, infos);
        }
        String[] parts = path.substring(Wire.MODELS.length() + 1).split("/");
        if (parts.length != 2) {
            throw new BadRequest(404, "no such endpoint: " + path + "; operations are POST " + Wire.MODELS
                    + "/{model}/{open|next-token|score|nll-at-temperatures|commit|release|commit-release|encode|decode"
                    + "|is-special}");
        }
        Served served = models.get(parts[0]);
        if (served == null) {
            throw new BadRequest(404, "model '" + parts[0] + "' is not served here; served: " + models.keySet());
        }
        if (!method.equals("POST")) {
            throw new BadRequest(405, "use POST for " + path);
        }
        byte[] request;
        try (InputStream in = exchange.getRequestBody()) {
            request = in.readAllBytes();
        }
        synchronized (served) {
            return operation(served, parts[1], request);
        }
    }

    private Object operation(Served s, String op, byte[] body) throws IOException {
        SourceModel m = s.model;
        TextCodec codec = m.codec();
        switch (op) {
            case "open" -> {
                Wire.Open r = read(body, Wire.Open.class);
                return new Wire.State(issue(s, m.open(required(r.tokens(), "tokens"))));
            }
            case "next-token" -> {
                Wire.NextToken r = read(body, Wire.NextToken.class);
                TokenStep step = m.nextToken(known(s, r.state()), new Decoding(r.temperature(), r.topP(), r.uniform()));
                return new Wire.Step(step.token(), step.logProb(), issue(s, step.state()));
            }
            case "score" -> {
                Wire.Score r = read(body, Wire.Score.class);
                List<ScoredTokens> scored = m.score(known(s, r.state()), required(r.candidates(), "candidates"));
                List<Wire.Scored> out = new ArrayList<>();
                for (ScoredTokens t : scored) {
                    out.add(new Wire.Scored(t.logProbs(), issue(s, t.state())));
                }
                return new Wire.ScoreResult(out);
            }
            case "nll-at-temperatures" -> {
                Wire.Tempered r = read(body, Wire.Tempered.class);
                return new Wire.TemperedNll(m.nllAtTemperatures(known(s, r.state()), required(r.tokens(), "tokens"),
                        required(r.temperatures(), "temperatures")).orElse(null));
            }
            case "commit" -> {
                m.commit(known(s, read(body, Wire.State.class).state()));
                return new Wire.Empty();
            }
            case "release" -> {
                m.release(forget(s, required(read(body, Wire.Release.class).states(), "states")));
                return new Wire.Empty();
            }
            case "commit-release" -> {
                Wire.CommitRelease r = read(body, Wire.CommitRelease.class);
                StateHandle kept = known(s, r.state());
                m.commitAndRelease(kept, forget(s, required(r.states(), "states")));
                return new Wire.Empty();
            }
            case "encode" -> {
                Wire.Encode r = read(body, Wire.Encode.class);
                String text = required(r.text(), "text");
                Encoded e = r.continuation() ? codec.encodeContinuation(text) : codec.encode(text);
                List<int[]> words = new ArrayList<>();
                for (Span w : e.words()) {
                    words.add(new int[] {w.start(), w.end()});
                }
                return new Wire.Encoding(e.text(), e.ids(), e.tokens(), words);
            }
            case "decode" -> {
                Wire.Decode r = read(body, Wire.Decode.class);
                List<Integer> ids = required(r.ids(), "ids");
                return new Wire.Text(r.continuation() ? codec.decodeContinuation(ids) : codec.decode(ids));
            }
            case "is-special" -> {
                List<Boolean> out = new ArrayList<>();
                for (int id : required(read(body, Wire.SpecialQuery.class).ids(), "ids")) {
                    out.add(codec.isSpecial(id));
                }
                return new Wire.Special(out);
            }
            default -> throw new BadRequest(404, "unknown operation '" + op
                    + "'; use open, next-token, score, nll-at-temperatures, commit, release, commit-release, encode, decode"
                    + " or is-special");
        }
    }

    private static <T> T read(byte[] body, Class<T> type) throws IOException {
        if (body.length == 0) {
            throw new BadRequest(400, "empty request body; send a JSON object");
        }
        return Wire.JSON.readValue(body, type);
    }

    private static <T> T required(T value, String field) {
        if (value == null) {
            throw new BadRequest(400, "request field '" + field + "' is missing");
        }
        return value;
    }

    /** The given states this server issued, no longer tracked; unknown ones are skipped (releasing them is a no-op). */
    private static List<StateHandle> forget(Served s, List<String> ids) {
        List<StateHandle> handles = new ArrayList<>();
        for (String id : ids) {
            if (s.live.remove(id) != null) {
                handles.add(new StateHandle(id));
            }
        }
        return handles;
    }

    private String issue(Served s, StateHandle handle) {
        s.live.put(handle.id(), nanoClock.getAsLong());
        return handle.id();
    }

    /** A state this server issued and still holds; using it restarts its time-to-live. */
    private StateHandle known(Served s, String id) {
        required(id, "state");
        if (s.live.replace(id, nanoClock.getAsLong()) == null) {
            if (s.recentlyExpired.contains(id)) {
                throw new BadRequest(404, "state '" + id + "' expired: no request used it for " + stateTtl.toSeconds()
                        + " s, the server's state time-to-live (cool-fusion serve --state-ttl); open the prompt again");
            }
            throw new BadRequest(404, "unknown state '" + id + "': it was released, or was not issued by this server"
                    + " (a restarted server forgets every state; open the prompt again)");
        }
        return new StateHandle(id);
    }

    private static Wire.ModelInfo info(String name, SourceModel m) {
        TextCodec c = m.codec();
        return new Wire.ModelInfo(name, m.maxContextTokens().isPresent() ? m.maxContextTokens().getAsInt() : null,
                c.endOfSequenceIds().stream().sorted().toList(),
                c.beginOfSequenceId().isPresent() ? c.beginOfSequenceId().getAsInt() : null,
                c.chatTemplate().map(t -> new Wire.Template(t.source(), t.specialTokens())).orElse(null));
    }

    /** A fail-fast builder; each setter checks its value. */
    public static final class Builder {
        private final Map<String, SourceModel> models = new LinkedHashMap<>();
        private String host = InetAddress.getLoopbackAddress().getHostAddress();
        private int port;
        private int threads = 4;
        private Optional<String> apiKey = Optional.empty();
        private Duration stateTtl = Duration.ofMinutes(10);
        private LongSupplier nanoClock = System::nanoTime;

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

        /** Request threads (calls on one model still run one at a time). */
        public Builder threads(int threads) {
            if (threads < 1) {
                throw new FusionException("threads must be at least 1, got " + threads);
            }
            this.threads = threads;
            return this;
        }

        /** Requires {@code Authorization: Bearer <key>} on every request (no key by default). */
        public Builder apiKey(String key) {
            requireNonNull(key, "key is null");
            if (key.isEmpty() || !key.chars().allMatch(c -> c > ' ' && c < 127)) {
                throw new FusionException("an API key must be non-empty printable ASCII without spaces");
            }
            this.apiKey = Optional.of(key);
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

        /** The clock the time-to-live is measured by (tests). */
        Builder nanoClock(LongSupplier clock) {
            this.nanoClock = requireNonNull(clock, "clock is null");
            return this;
        }

        public TableOneServer build() {
            if (models.isEmpty()) {
                throw new FusionException("a server needs at least one model; add one with model(...)");
            }
            return new TableOneServer(this, new InetSocketAddress(host, port));
        }
    }
}
