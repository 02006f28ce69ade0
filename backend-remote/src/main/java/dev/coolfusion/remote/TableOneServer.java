package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.serving.ServerLimits.Limit;
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
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
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
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
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
 * <p>No request can make the server allocate without bound: it enforces its {@linkplain Builder#limits(ServerLimits)
 * limits} (request body size, candidates per {@code score}, tokens per candidate and per request, live states per
 * server and per client) before it reads a body past the size limit and before it asks a model for anything, and
 * answers what is over with HTTP 413 (too large) or 429 (too many live states) and a message that names the limit,
 * its value and the option that raises it. Requests are read strictly: a token id must be a JSON integer inside the
 * model's vocabulary (when the model tells its size, see {@link Builder#vocabularySize(String, int)}), and a missing
 * field is named in a 400 answer rather than replaced by a default.
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
    private final ServerLimits limits;
    private final Quota quota;
    private final Duration stateTtl;
    private final LongSupplier nanoClock;
    private final ScheduledExecutorService sweeper;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong expired = new AtomicLong();
    private boolean started;

    /** One model and the states it issued through this server, each with when a request last used it and its client. */
    private static final class Served {
        final String name;
        final SourceModel model;
        /** Ids are 0 until this; empty when the model does not tell its vocabulary size. */
        final OptionalInt vocabulary;
        final Map<String, Live> live = new HashMap<>();
        /** The latest expired ids (at most {@link #EXPIRED_REMEMBERED}), to tell a late client why its state is gone. */
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

    /** A state this server issued: when a request last used it, and which client it counts against. */
    private static final class Live {
        long used;
        final String client;

        Live(long used, String client) {
            this.used = used;
            this.client = client;
        }
    }

    /** Who a request counts against for the per-client limit: the API key when the server has one, else the address. */
    private record Client(String id, String description) {}

    private TableOneServer(Builder b, InetSocketAddress address) {
        this.models = new LinkedHashMap<>();
        b.models.forEach((name, model) -> this.models.put(name, new Served(name, model,
                b.vocabularies.containsKey(name) ? OptionalInt.of(b.vocabularies.get(name)) : discoverVocabulary(model))));
        this.authorization = b.apiKey.map(key -> ("Bearer " + key).getBytes(StandardCharsets.UTF_8));
        this.limits = b.limits;
        this.quota = new Quota(b.limits);
        this.stateTtl = b.stateTtl;
        this.nanoClock = b.nanoClock;
        int threads = b.threads;
        try {
            this.http = HttpServer.create(address, 0);
        } catch (java.net.BindException e) {
            boolean notHere = String.valueOf(e.getMessage()).contains("assign requested address");
            throw new FusionException("cannot listen on " + address.getHostString() + ":" + address.getPort() + " ("
                    + e.getMessage() + "); " + (notHere
                            ? address.getHostString() + " is not an address of this machine: give --host 127.0.0.1,"
                                    + " 0.0.0.0 (every interface) or one of its interface addresses"
                            : "choose another --port, or stop what is using it"), e);
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

    /** How many states clients hold on this server, over all its models (what {@link ServerLimits#maxLiveStates} bounds). */
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
                s.live.forEach((id, live) -> quota.free(live.client, 1));
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
                    + " cool-fusion worker)");
        }
    }

    /** The client a request counts against: the API key when the server has one, else the remote address. */
    private Client client(HttpExchange exchange) {
        if (authorization.isPresent()) {
            return new Client("api-key", "the holders of this server's API key");
        }
        InetSocketAddress remote = exchange.getRemoteAddress();
        String host = remote.getAddress() == null ? remote.getHostString() : remote.getAddress().getHostAddress();
        return new Client("address:" + host, "client " + host);
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
        Client client = client(exchange);
        byte[] request = readBody(exchange, parts[1]);
        synchronized (served) {
            return operation(served, parts[1], request, client);
        }
    }

    /**
     * The request body, never more than {@link ServerLimits#maxBodyBytes} of it: a body whose Content-Length is over
     * the limit is refused before a byte of it is read, a chunked one as soon as it passes the limit. What the client
     * still sends is left to the HTTP server, which discards a little of it and then closes the connection.
     */
    private byte[] readBody(HttpExchange exchange, String op) throws IOException {
        long max = limits.maxBodyBytes();
        String encoding = exchange.getRequestHeaders().getFirst("Transfer-Encoding");
        String length = exchange.getRequestHeaders().getFirst("Content-Length");
        String advice = "send less per request";
        if ((encoding == null || !encoding.toLowerCase(Locale.ROOT).contains("chunked")) && length != null) {
            long declared;
            try {
                declared = Long.parseLong(length.trim());
            } catch (NumberFormatException e) {
                throw new BadRequest(400, "malformed Content-Length '" + length + "'");
            }
            if (declared > max) {
                throw new BadRequest(413, limits.refusal(Limit.BODY_BYTES, op + " request body of " + declared
                        + " bytes (its Content-Length)", advice));
            }
            byte[] body = new byte[(int) declared];
            int read = exchange.getRequestBody().readNBytes(body, 0, body.length);
            if (read < body.length) {
                throw new BadRequest(400, "request body ended after " + read + " of its " + declared + " bytes");
            }
            return body;
        }
        // Not closed here: closing drains what the client still sends, which must wait until the answer is out.
        InputStream in = exchange.getRequestBody();
        byte[] body = in.readNBytes((int) max + 1); // reads as the bytes arrive: never more than the limit and one
        if (body.length > max) {
            throw new BadRequest(413, limits.refusal(Limit.BODY_BYTES, op + " request body is longer than " + max
                    + " bytes (refused after reading " + body.length + " of it)", advice));
        }
        return body;
    }

    private Object operation(Served s, String op, byte[] body, Client client) throws IOException {
        SourceModel m = s.model;
        TextCodec codec = m.codec();
        switch (op) {
            case "open" -> {
                Wire.Open r = read(body, Wire.Open.class);
                List<Integer> tokens = required(r.tokens(), "tokens");
                perRequest("open request has " + tokens.size() + " tokens", tokens.size());
                tokenIds(s, "tokens", tokens);
                try (Reservation held = quota.reserve(client, 1, "open")) {
                    return new Wire.State(issue(s, m.open(tokens), held));
                }
            }
            case "next-token" -> {
                Wire.NextToken r = read(body, Wire.NextToken.class);
                String missing = r.temperature() == null ? "temperature" : r.topP() == null ? "topP"
                        : r.uniform() == null ? "uniform" : null;
                if (missing != null) {
                    throw new BadRequest(400, "request field '" + missing + "' is missing: next-token needs temperature,"
                            + " topP and uniform (greedy: temperature 0, topP 1, uniform 0)");
                }
                Decoding decoding = new Decoding(r.temperature(), r.topP(), r.uniform());
                StateHandle state = known(s, r.state());
                try (Reservation held = quota.reserve(client, 1, "next-token")) {
                    TokenStep step = m.nextToken(state, decoding);
                    return new Wire.Step(step.token(), step.logProb(), issue(s, step.state(), held));
                }
            }
            case "score" -> {
                Wire.Score r = read(body, Wire.Score.class);
                List<List<Integer>> candidates = required(r.candidates(), "candidates");
                if (candidates.size() > limits.maxCandidates()) {
                    throw new BadRequest(413, limits.refusal(Limit.CANDIDATES, "score request has " + candidates.size()
                            + " candidates", "split them over several requests"));
                }
                int longest = 0;
                for (int i = 0; i < candidates.size(); i++) {
                    List<Integer> c = candidates.get(i);
                    if (c == null) {
                        throw new BadRequest(400, "request field 'candidates[" + i + "]' is null; an empty candidate is []");
                    }
                    if (c.size() > limits.maxTokensPerCandidate()) {
                        throw new BadRequest(413, limits.refusal(Limit.TOKENS_PER_CANDIDATE, "candidates[" + i + "] has "
                                + c.size() + " tokens", ""));
                    }
                    longest = Math.max(longest, c.size());
                }
                long batch = (long) candidates.size() * longest;
                perRequest("score request has " + candidates.size() + " candidates of up to " + longest + " tokens, a"
                        + " batch of " + batch + " tokens (candidates times the longest, as a batched backend pads them)",
                        batch);
                for (int i = 0; i < candidates.size(); i++) {
                    tokenIds(s, "candidates[" + i + "]", candidates.get(i));
                }
                StateHandle state = known(s, r.state());
                try (Reservation held = quota.reserve(client, candidates.size(), "score")) {
                    List<ScoredTokens> scored = m.score(state, candidates);
                    List<Wire.Scored> out = new ArrayList<>();
                    for (ScoredTokens t : scored) {
                        out.add(new Wire.Scored(t.logProbs(), issue(s, t.state(), held)));
                    }
                    return new Wire.ScoreResult(out);
                }
            }
            case "nll-at-temperatures" -> {
                Wire.Tempered r = read(body, Wire.Tempered.class);
                List<Integer> tokens = required(r.tokens(), "tokens");
                double[] temperatures = required(r.temperatures(), "temperatures");
                if (tokens.size() > limits.maxTokensPerCandidate()) {
                    throw new BadRequest(413, limits.refusal(Limit.TOKENS_PER_CANDIDATE, "nll-at-temperatures request has "
                            + tokens.size() + " tokens", ""));
                }
                perRequest("nll-at-temperatures request has " + tokens.size() + " tokens", tokens.size());
                tokenIds(s, "tokens", tokens);
                return new Wire.TemperedNll(m.nllAtTemperatures(known(s, r.state()), tokens, temperatures).orElse(null));
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
                perRequest("decode request has " + ids.size() + " ids", ids.size());
                tokenIds(s, "ids", ids);
                return new Wire.Text(r.continuation() ? codec.decodeContinuation(ids) : codec.decode(ids));
            }
            case "is-special" -> {
                List<Integer> ids = required(read(body, Wire.SpecialQuery.class).ids(), "ids");
                perRequest("is-special request has " + ids.size() + " ids", ids.size());
                List<Boolean> out = new ArrayList<>();
                for (int i = 0; i < ids.size(); i++) {
                    if (ids.get(i) == null) {
                        throw new BadRequest(400, "request field 'ids[" + i + "]' is null; token ids are integers");
                    }
                    out.add(codec.isSpecial(ids.get(i)));
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
        try {
            return Wire.REQUESTS.readValue(body, type);
        } catch (JsonMappingException e) {
            throw new BadRequest(400, invalidField(e, body));
        }
    }

    /** Refuses a request of more than {@link ServerLimits#maxTokensPerRequest} tokens. */
    private void perRequest(String what, long tokens) {
        if (tokens > limits.maxTokensPerRequest()) {
            throw new BadRequest(413, limits.refusal(Limit.TOKENS_PER_REQUEST, what, "split it over several requests"));
        }
    }

    /** Refuses a null or negative token id, and one outside the model's vocabulary when the server knows its size. */
    private static void tokenIds(Served s, String field, List<Integer> ids) {
        int vocabulary = s.vocabulary.orElse(Integer.MAX_VALUE);
        for (int i = 0; i < ids.size(); i++) {
            Integer id = ids.get(i);
            if (id == null) {
                throw new BadRequest(400, "request field '" + field + "[" + i + "]' is null; token ids are integers");
            }
            if (id < 0 || id >= vocabulary) {
                throw new BadRequest(400, "token id " + id + " (request field '" + field + "[" + i + "]') is outside the"
                        + " vocabulary of model '" + s.name + "'" + (s.vocabulary.isPresent() ? ": its " + vocabulary
                        + " ids are 0.." + (vocabulary - 1) : ": ids are not negative"));
            }
        }
    }

    /** A 400 message for a body that is JSON but not the request: which field, what it must be, what it was. */
    private static String invalidField(JsonMappingException e, byte[] body) {
        StringBuilder field = new StringBuilder();
        JsonNode value;
        try {
            value = Wire.JSON.readTree(body); // small: the body is within its limit, and this runs only on a mistake
        } catch (IOException notJson) {
            return "malformed JSON request: " + e.getOriginalMessage();
        }
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                field.append(field.isEmpty() ? "" : ".").append(r.getFieldName());
                value = value == null ? null : value.get(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                field.append('[').append(r.getIndex()).append(']');
                value = value == null ? null : value.get(r.getIndex());
            }
        }
        if (field.isEmpty()) {
            return "malformed request: " + e.getOriginalMessage();
        }
        Class<?> target = e instanceof MismatchedInputException m ? m.getTargetType() : null;
        String expected = target == null ? null
                : target == Integer.class || target == int.class ? "an integer"
                : target == Double.class || target == double.class ? "a number"
                : target == Boolean.class || target == boolean.class ? "true or false"
                : target == String.class ? "a string"
                : List.class.isAssignableFrom(target) || target.isArray() ? "an array"
                : null;
        String got = value == null ? null
                : value.isTextual() ? "the string " + value
                : value.isValueNode() ? value.toString()
                : value.isArray() ? "an array"
                : value.isObject() ? "an object"
                : null;
        if (expected != null && got != null) {
            return "request field '" + field + "' must be " + expected + (expected.equals("an integer") ? " (token ids"
                    + " are whole numbers)" : "") + ", got " + got;
        }
        return "request field '" + field + "' is invalid: " + e.getOriginalMessage();
    }

    private static <T> T required(T value, String field) {
        if (value == null) {
            throw new BadRequest(400, "request field '" + field + "' is missing");
        }
        return value;
    }

    /** The given states this server issued, no longer tracked; unknown ones are skipped (releasing them is a no-op). */
    private List<StateHandle> forget(Served s, List<String> ids) {
        List<StateHandle> handles = new ArrayList<>();
        for (String id : ids) {
            Live live = id == null ? null : s.live.remove(id);
            if (live != null) {
                quota.free(live.client, 1);
                handles.add(new StateHandle(id));
            }
        }
        return handles;
    }

    /** Tracks a state the model issued for a request, counting it against the request's reservation. */
    private String issue(Served s, StateHandle handle, Reservation held) {
        long now = nanoClock.getAsLong();
        Live before = s.live.putIfAbsent(handle.id(), new Live(now, held.client.id()));
        if (before == null) {
            held.used++;
        } else {
            before.used = now; // the model handed out a state it had issued before: still one state
        }
        return handle.id();
    }

    /** A state this server issued and still holds; using it restarts its time-to-live. */
    private StateHandle known(Served s, String id) {
        required(id, "state");
        Live live = s.live.get(id);
        if (live != null) {
            live.used = nanoClock.getAsLong();
        } else {
            if (s.recentlyExpired.contains(id)) {
                throw new BadRequest(404, "state '" + id + "' expired: no request used it for " + stateTtl.toSeconds()
                        + " s, the server's state time-to-live (cool-fusion worker --state-ttl); open the prompt again");
            }
            throw new BadRequest(404, "unknown state '" + id + "': it was released, or was not issued by this server"
                    + " (a restarted server forgets every state; open the prompt again)");
        }
        return new StateHandle(id);
    }

    /**
     * States a request may issue, taken from the live-state limits before the model runs; closing it gives back what
     * the request did not issue (all of it when the model failed).
     */
    private static final class Reservation implements AutoCloseable {
        final Quota quota;
        final Client client;
        final int reserved;
        int used;

        Reservation(Quota quota, Client client, int reserved) {
            this.quota = quota;
            this.client = client;
            this.reserved = reserved;
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
            int mine = perClient.getOrDefault(client.id(), 0);
            String what = op + " would issue " + states + (states == 1 ? " state" : " states");
            String advice = "release the states you no longer need (release, commit-release); states no request uses"
                    + " for the state time-to-live expire by themselves";
            if ((long) total + states > limits.maxLiveStates()) {
                throw new BadRequest(429, limits.refusal(Limit.LIVE_STATES, what + " while " + live(total), advice));
            }
            if ((long) mine + states > limits.maxLiveStatesPerClient()) {
                throw new BadRequest(429, limits.refusal(Limit.LIVE_STATES_PER_CLIENT, what + " while " + live(mine)
                        + " for " + client.description(), advice));
            }
            total += states;
            perClient.merge(client.id(), states, Integer::sum);
            return new Reservation(this, client, states);
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

    /**
     * The vocabulary size of a model that tells it with a public {@code int vocabularySize()} (the DJL backend's models
     * do; the SPI has no such call), else empty.
     */
    private static OptionalInt discoverVocabulary(SourceModel model) {
        try {
            Method m = model.getClass().getMethod("vocabularySize");
            if (m.getReturnType() == int.class && Modifier.isPublic(m.getDeclaringClass().getModifiers())) {
                int size = (int) m.invoke(model);
                return size > 0 ? OptionalInt.of(size) : OptionalInt.empty();
            }
        } catch (ReflectiveOperationException | RuntimeException notTold) {
            // a model without the method, or one that cannot answer: its ids are checked by the model alone
        }
        return OptionalInt.empty();
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
        private ServerLimits limits = ServerLimits.DEFAULTS;
        private final Map<String, Integer> vocabularies = new HashMap<>();
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

        /** What one request, one client and all clients may ask of the server (default {@link ServerLimits#DEFAULTS}). */
        public Builder limits(ServerLimits limits) {
            this.limits = requireNonNull(limits, "limits is null");
            return this;
        }

        /**
         * The vocabulary size of the model served as {@code name}, which the server checks every token id of
         * {@code open}, {@code score}, {@code nll-at-temperatures} and {@code decode} against (HTTP 400 for one outside
         * it). Needed only for a model without a public {@code int vocabularySize()}; without either, ids are checked by
         * the model alone (and {@code decode} answers what the tokenizer makes of them).
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
            return new TableOneServer(this, address);
        }
    }
}
