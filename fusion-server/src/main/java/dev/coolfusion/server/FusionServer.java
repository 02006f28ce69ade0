package dev.coolfusion.server;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.serving.ServerLimits.Limit;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.SourceModel;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.atomic.LongAdder;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The fused model over HTTP: an OpenAI-compatible API, in the formats of vLLM's OpenAI-compatible server, and a live
 * web playground.
 *
 * <ul>
 *   <li>{@code POST /v1/chat/completions}: the conversation is rendered for every source with its own chat template
 *       ({@link dev.coolfusion.template.SourcePrompts}, as the LangChain4j adapter renders it); {@code max_tokens} /
 *       {@code max_completion_tokens} (in the first source's tokens), {@code temperature}, {@code top_p},
 *       {@code seed}, {@code stop}, {@code stream}, {@code stream_options.include_usage} and {@code user} are read;
 *       {@code n != 1}, tools, a {@code response_format} other than text, {@code logprobs}, penalties and
 *       {@code top_k} are 400s naming the field.</li>
 *   <li>{@code POST /v1/completions}: {@code prompt} a string or a list of strings (one choice each), the same
 *       sampling fields, {@code echo} (with {@code max_tokens} 0: the prompt alone); {@code logprobs} is refused.</li>
 *   <li>Streaming: server-sent events, one chunk per fused segment, the last chunk with {@code finish_reason}
 *       ({@code stop}/{@code length}), then (with {@code include_usage}) a chunk with {@code usage} and no choices,
 *       then {@code data: [DONE]}.</li>
 *   <li>Every response carries the trace as the extension field {@code "cool_fusion": {"segments": [...]}} (see
 *       {@link Traces}).</li>
 *   <li>{@code GET /v1/models} (the fused model, its sources as metadata), {@code GET /health}, {@code GET /} (the
 *       playground, one offline page).</li>
 * </ul>
 *
 * <p>Errors are OpenAI-shaped ({@code {"error": {"message", "type", "param", "code"}}}): 400 a bad field or a prompt
 * past a source's context, 401 a missing or wrong API key, 404 an unknown model or path, 413 over a
 * {@link ServerLimits} limit (body bytes, tokens per request), 429 every slot and queue place taken (with
 * {@code Retry-After}), 500 a source failed (named in the message), 504 past the time limit.
 *
 * <p>Load: at most {@link Builder#maxConcurrent} generations run at once and {@link Builder#maxQueued} requests wait
 * for one, first come first served; more is a 429. Concurrent generations give the outputs sequential ones give (each
 * opens its own states; the fusion's sampling draws are fixed per source, step and token). A streaming client that
 * disconnects ends its generation at the next segment, and a generation past the per-request time limit ends at its
 * next segment: the fusion releases every state of a generation that ends by an exception.
 *
 * <p>Safety: loopback unless told otherwise; with an API key every {@code /v1} request needs
 * {@code Authorization: Bearer <key>} (compared in constant time); the page and {@code /health} are open. No TLS.
 */
public final class FusionServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FusionServer.class.getName());
    private static final String ERROR_WRITTEN = "cool-fusion.error-written";

    private final ConfiguredFusion fused;
    private final String modelName;
    private final String host;
    private final int requestedPort;
    private final Optional<byte[]> keyDigest;
    private final ServerLimits limits;
    private final Duration requestTimeout;
    private final Admission admission;
    private final ObjectMapper json = new ObjectMapper();
    private final Counters counters = new Counters();
    private final Endpoints endpoints;
    private final byte[] page;
    private final long created = System.currentTimeMillis() / 1000;
    private Javalin app;

    /** What the server has done so far (for monitoring and tests). */
    static final class Counters {
        final LongAdder completed = new LongAdder();
        final LongAdder cancelled = new LongAdder();
        final LongAdder timedOut = new LongAdder();
        final LongAdder failed = new LongAdder();
        final LongAdder busy = new LongAdder();
        final LongAdder steps = new LongAdder();
    }

    /**
     * A snapshot of the server's load and history.
     *
     * @param running   generations running now
     * @param queued    requests waiting for a slot now
     * @param completed answers given in full
     * @param cancelled generations ended because their streaming client disconnected
     * @param timedOut  generations ended at the per-request time limit
     * @param failed    generations a source (or the fusion) failed
     * @param busy      requests refused with 429
     * @param steps     fused steps committed, all generations together
     */
    public record Stats(int running, int queued, long completed, long cancelled, long timedOut, long failed, long busy,
            long steps) {}

    private FusionServer(Builder b) {
        this.fused = requireNonNull(b.fused, "fusion is required: FusionServer.builder().fusion(...)");
        this.modelName = b.modelName != null ? b.modelName : defaultModelName(fused);
        this.host = b.host;
        this.requestedPort = b.port;
        this.keyDigest = b.apiKey == null || b.apiKey.isEmpty() ? Optional.empty()
                : Optional.of(sha256("Bearer " + b.apiKey));
        this.limits = b.limits;
        this.requestTimeout = b.requestTimeout;
        this.admission = new Admission(b.maxConcurrent, b.maxQueued);
        this.endpoints = new Endpoints(fused, modelName, limits, admission, requestTimeout.toNanos(), json, counters);
        this.page = Playground.page();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The name the API serves the fusion under by default: the source names joined, as the LangChain4j adapter's. */
    public static String defaultModelName(ConfiguredFusion fused) {
        return "cool-fusion(" + String.join("+", fused.sourceNames()) + ")";
    }

    /**
     * The most concurrent generations by default: one per processor, and at least 8 (each generation runs its sources
     * in parallel; a local source runs the calls of generations that arrive together as one batched forward, so a few
     * more generations than processors still gain throughput).
     */
    public static int defaultMaxConcurrent() {
        return Math.max(8, Runtime.getRuntime().availableProcessors());
    }

    /** Starts listening; returns this server. */
    public synchronized FusionServer start() {
        if (app != null) {
            throw new IllegalStateException("already started");
        }
        QueuedThreadPool threads = new QueuedThreadPool(Math.max(64, admission.maxRunning() + admission.maxQueued() + 32),
                4);
        threads.setName("cool-fusion-http");
        threads.setDaemon(true);
        Javalin javalin = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.jetty.host = host;
            config.jetty.port = requestedPort;
            config.jetty.threadPool = threads;
            config.http.prefer405over404 = true;
            config.http.maxRequestSize = limits.maxBodyBytes();
            config.routes.get("/", this::playground);
            config.routes.get("/health", ctx -> writeJson(ctx, 200, health()));
            config.routes.before("/v1/*", this::authorize);
            config.routes.get("/v1/models", ctx -> writeJson(ctx, 200, models()));
            config.routes.get("/v1/models/{model}", this::model);
            config.routes.post("/v1/chat/completions", ctx -> generation(ctx, true));
            config.routes.post("/v1/completions", ctx -> generation(ctx, false));
            config.routes.exception(ApiError.class, (e, ctx) -> writeError(ctx, e));
            config.routes.exception(Exception.class, (e, ctx) -> {
                LOG.log(System.Logger.Level.ERROR, "request failed: " + ctx.method() + " " + ctx.path(), e);
                writeError(ctx, ApiError.internal("internal server error: " + e, e));
            });
            config.routes.error(404, ctx -> {
                if (ctx.attribute(ERROR_WRITTEN) == null) {
                    writeError(ctx, ApiError.notFound(null, "no such path: " + ctx.method() + " " + ctx.path() + "; this"
                            + " server answers POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET"
                            + " /health and GET / (the playground)"));
                }
            });
            config.routes.error(405, ctx -> {
                if (ctx.attribute(ERROR_WRITTEN) == null) {
                    writeError(ctx, ApiError.methodNotAllowed("method " + ctx.method() + " is not allowed on "
                            + ctx.path()));
                }
            });
        });
        if (keyDigest.isEmpty() && !loopback()) {
            LOG.log(System.Logger.Level.WARNING, "serving on " + host + " without an API key: anyone who can reach"
                    + " this port can use the model");
        }
        javalin.start();
        long idle = requestTimeout.toMillis() + 60_000;
        for (Connector c : javalin.jettyServer().server().getConnectors()) {
            if (c instanceof ServerConnector sc) {
                sc.setIdleTimeout(Math.max(sc.getIdleTimeout(), idle));
            }
        }
        this.app = javalin;
        return this;
    }

    /** Where it listens, e.g. {@code http://127.0.0.1:8000}; the API is under {@code /v1}. */
    public URI uri() {
        if (app == null) {
            throw new IllegalStateException("not started");
        }
        String h = host.contains(":") ? "[" + host + "]" : host;
        return URI.create("http://" + h + ":" + app.port());
    }

    /** The name {@code /v1/models} lists and requests' {@code model} must match (when given). */
    public String modelName() {
        return modelName;
    }

    public ServerLimits limits() {
        return limits;
    }

    public Duration requestTimeout() {
        return requestTimeout;
    }

    public int maxConcurrent() {
        return admission.maxRunning();
    }

    public int maxQueued() {
        return admission.maxQueued();
    }

    /** Whether the host is a loopback address (then nothing beyond this machine can connect). */
    public boolean loopback() {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    public boolean requiresApiKey() {
        return keyDigest.isPresent();
    }

    public Stats stats() {
        return new Stats(admission.running(), admission.queued(), counters.completed.sum(), counters.cancelled.sum(),
                counters.timedOut.sum(), counters.failed.sum(), counters.busy.sum(), counters.steps.sum());
    }

    /** Stops listening; running generations end at their next segment (their clients are gone). Never closes the fusion. */
    @Override
    public synchronized void close() {
        if (app != null) {
            app.stop();
            app = null;
        }
    }

    // ------------------------------------------------------------------------------------------------ handlers

    private void authorize(Context ctx) {
        if (keyDigest.isEmpty() || ctx.method() == HandlerType.OPTIONS) {
            return;
        }
        String given = ctx.header("Authorization");
        // Digests of equal length: the comparison takes the same time whatever the key and the guess.
        if (given == null || !MessageDigest.isEqual(sha256(given.trim()), keyDigest.get())) {
            throw ApiError.unauthorized((given == null ? "missing" : "wrong") + " API key: this server requires the"
                    + " header 'Authorization: Bearer <key>' with the key given to cool-fusion serve (--api-key or"
                    + " COOL_FUSION_API_KEY)");
        }
    }

    private void generation(Context ctx, boolean chat) {
        JsonNode body = readBody(ctx);
        JsonNode answer;
        try {
            answer = chat ? endpoints.chat(body, ctx.res()) : endpoints.completion(body, ctx.res());
        } catch (Stopped gone) {
            LOG.log(System.Logger.Level.DEBUG, "client gone; generation stopped");
            return;
        } catch (ApiError e) {
            if (e.status == 429) {
                counters.busy.increment();
            }
            throw e;
        }
        if (answer != null) {
            writeJson(ctx, 200, answer);
        }
    }

    private void model(Context ctx) {
        String id = ctx.pathParam("model");
        if (!id.equals(modelName)) {
            throw ApiError.notFound("model", "The model `" + id + "` does not exist: this server serves `" + modelName
                    + "`");
        }
        writeJson(ctx, 200, modelEntry());
    }

    private void playground(Context ctx) {
        ctx.header("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src"
                + " 'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
        ctx.contentType("text/html; charset=utf-8").result(page);
    }

    private ObjectNode health() {
        ObjectNode o = json.createObjectNode();
        o.put("status", "ok");
        o.put("model", modelName);
        Stats s = stats();
        o.put("running", s.running());
        o.put("queued", s.queued());
        o.put("max_concurrent", admission.maxRunning());
        o.put("max_queue", admission.maxQueued());
        return o;
    }

    private ObjectNode models() {
        ObjectNode o = json.createObjectNode();
        o.put("object", "list");
        o.putArray("data").add(modelEntry());
        return o;
    }

    private ObjectNode modelEntry() {
        ObjectNode m = json.createObjectNode();
        m.put("id", modelName);
        m.put("object", "model");
        m.put("created", created);
        m.put("owned_by", "cool-fusion");
        m.put("root", modelName);
        m.putNull("parent");
        OptionalInt context = fused.sources().stream().map(SourceModel::maxContextTokens).filter(OptionalInt::isPresent)
                .mapToInt(OptionalInt::getAsInt).min();
        if (context.isPresent()) {
            m.put("max_model_len", context.getAsInt());
        }
        ObjectNode extension = m.putObject("cool_fusion");
        ArrayNode sources = extension.putArray("sources");
        for (SourceModel source : fused.sources()) {
            ObjectNode s = sources.addObject();
            s.put("name", source.name());
            source.maxContextTokens().ifPresent(n -> s.put("max_context", n));
            s.put("chat_template", source.codec().chatTemplate().isPresent());
        }
        extension.put("metric", fused.metric().name());
        ObjectNode defaults = extension.putObject("defaults");
        defaults.put("max_tokens", fused.options().maxNewTokens());
        defaults.put("temperature", fused.options().temperature());
        defaults.put("top_p", fused.options().topP());
        ArrayNode stop = defaults.putArray("stop");
        fused.options().stopStrings().forEach(stop::add);
        return m;
    }

    // ------------------------------------------------------------------------------------------------ plumbing

    /** The body as JSON, refused with 413 by its Content-Length before it is read, or as soon as it passes the limit. */
    private JsonNode readBody(Context ctx) {
        long max = limits.maxBodyBytes();
        long declared = ctx.req().getContentLengthLong();
        if (declared > max) {
            throw ApiError.tooLarge(null, limits.refusal(Limit.BODY_BYTES, "the request body has " + declared
                    + " bytes", ""));
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream((int) Math.max(0, Math.min(declared, 1 << 16)));
        try (InputStream in = ctx.req().getInputStream()) {
            byte[] buffer = new byte[8192];
            long total = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                total += n;
                if (total > max) {
                    throw ApiError.tooLarge(null, limits.refusal(Limit.BODY_BYTES, "the request body has more than "
                            + max + " bytes", ""));
                }
                bytes.write(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the request body", e);
        }
        if (bytes.size() == 0) {
            throw ApiError.badRequest(null, "the request has no body: send a JSON object (Content-Type:"
                    + " application/json)");
        }
        try {
            return json.readTree(bytes.toByteArray());
        } catch (IOException e) {
            String why = e instanceof JsonProcessingException p ? p.getOriginalMessage() : e.getMessage();
            throw ApiError.badRequest(null, "the request body is not valid JSON: " + why);
        }
    }

    private void writeJson(Context ctx, int status, JsonNode body) {
        byte[] bytes;
        try {
            bytes = json.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        ctx.status(status).contentType("application/json").result(bytes);
    }

    private void writeError(Context ctx, ApiError e) {
        if (ctx.res().isCommitted()) {
            LOG.log(System.Logger.Level.WARNING, "error after the response began: " + e.getMessage());
            return;
        }
        if (e.status >= 500) {
            LOG.log(System.Logger.Level.WARNING, e.status + " on " + ctx.method() + " " + ctx.path() + ": "
                    + e.getMessage(), e.getCause());
        }
        ctx.attribute(ERROR_WRITTEN, Boolean.TRUE);
        e.headers.forEach(ctx::header);
        writeJson(ctx, e.status, e.body(json));
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------------------------------------ builder

    public static final class Builder {
        private ConfiguredFusion fused;
        private String modelName;
        private String host = "127.0.0.1";
        private int port = 8000;
        private String apiKey;
        private ServerLimits limits = ServerLimits.DEFAULTS;
        private int maxConcurrent = defaultMaxConcurrent();
        private int maxQueued = 64;
        private Duration requestTimeout = Duration.ofSeconds(300);

        private Builder() {}

        /** The fusion to serve, with its default options (the server never closes it). */
        public Builder fusion(ConfiguredFusion fused) {
            this.fused = requireNonNull(fused, "fusion is null");
            return this;
        }

        /** The served model's name (default: {@link #defaultModelName}). */
        public Builder modelName(String name) {
            if (name == null || name.isBlank()) {
                throw new FusionException("the served model name must not be empty");
            }
            this.modelName = name;
            return this;
        }

        /** The interface to bind (default 127.0.0.1, loopback). */
        public Builder host(String host) {
            this.host = requireNonNull(host, "host is null");
            return this;
        }

        /** The port (default 8000, vLLM's; 0 picks a free one). */
        public Builder port(int port) {
            if (port < 0 || port > 65535) {
                throw new FusionException("port must be in 0..65535, got " + port);
            }
            this.port = port;
            return this;
        }

        /** Require {@code Authorization: Bearer <key>} on {@code /v1}; null or empty for none. */
        public Builder apiKey(String key) {
            this.apiKey = key;
            return this;
        }

        /** Body bytes and tokens per request (prompt, {@code max_tokens}); default {@link ServerLimits#DEFAULTS}. */
        public Builder limits(ServerLimits limits) {
            this.limits = requireNonNull(limits, "limits is null");
            return this;
        }

        /** How many generations run at once (default {@link #defaultMaxConcurrent()}). */
        public Builder maxConcurrent(int n) {
            if (n < 1) {
                throw new FusionException("the most concurrent generations must be at least 1 (--max-concurrent), got "
                        + n);
            }
            this.maxConcurrent = n;
            return this;
        }

        /** How many requests may wait for a slot (default 64); past that, 429. */
        public Builder maxQueued(int n) {
            if (n < 0) {
                throw new FusionException("the queue length must be at least 0 (--max-queue), got " + n);
            }
            this.maxQueued = n;
            return this;
        }

        /** Each request's time limit, waiting in the queue included (default 300 s). */
        public Builder requestTimeout(Duration timeout) {
            requireNonNull(timeout, "timeout is null");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new FusionException("the request time limit must be positive (--request-timeout), got " + timeout);
            }
            this.requestTimeout = timeout;
            return this;
        }

        public FusionServer build() {
            return new FusionServer(this);
        }
    }
}
