package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.remote.proto.DescribeRequest;
import dev.coolfusion.remote.proto.DescribeResponse;
import dev.coolfusion.remote.proto.ExportTokenizerRequest;
import dev.coolfusion.remote.proto.ModelInfo;
import dev.coolfusion.remote.proto.TokenizerFiles;
import dev.coolfusion.remote.proto.WorkerGrpc;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.TextCodec;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import java.io.File;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The {@code remote} backend: a model served by a worker ({@link TableOneServer}, {@code cool-fusion worker}) over
 * gRPC. Options: {@code url} (required; {@code http://host:port} or {@code host:port} for plaintext,
 * {@code https://host:port} for TLS; {@code target} is a synonym), {@code model} (the served name; may be left out when
 * the worker serves one model), {@code name} (the name in this fusion; default the served name),
 * {@code timeout-seconds} (the deadline of every call, default 60), {@code api-key} (when the worker was started with
 * one; sent as {@code authorization: Bearer <key>}), {@code tls-ca} (a PEM file of the certificates to trust, for a
 * worker with its own certificate authority; implies TLS), {@code worker-t1} ({@code true} by default: T1 runs on the
 * worker, one call per segment; {@code false}: one call per token, the old path kept for comparison),
 * {@code fetch-tokenizer} ({@code true} by default: the client fetches the worker's tokenizer files once and tokenizes
 * locally; {@code false}: every tokenizer call asks the worker, memoised) and {@code tokenizer}: a local copy of the
 * served model's tokenizer (its folder or {@code tokenizer.json}), checked against the worker when the model is created.
 */
public final class RemoteSourceModelProvider implements SourceModelProvider {
    static final Set<String> OPTIONS = Set.of("url", "target", "model", "name", "timeout-seconds", "api-key",
            "tokenizer", "tls-ca", "worker-t1", "fetch-tokenizer");
    /** Probe texts a local tokenizer must encode and decode exactly as the server's does. */
    static final List<String> PROBES = List.of("Question: Mia has 16 apples. She buys 7 more.\nAnswer: 16 + 7 = 23.",
            " The answer is 1,234.56!", " naïve café – 東京 😀");
    /** The worker's default port, for a {@code url} without one. */
    static final int DEFAULT_PORT = 8765;

    @Override
    public String name() {
        return "remote";
    }

    @Override
    public String description() {
        return "remote: a model served over gRPC by 'cool-fusion worker' (the Table-1 protocol, T1 on the worker);"
                + " options url, model, name, timeout-seconds, api-key, tls-ca, worker-t1, fetch-tokenizer, tokenizer";
    }

    /** Where a worker is and whether it speaks TLS. */
    record Target(String host, int port, boolean tls) {
        String address() {
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        }
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        requireNonNull(config, "config is null");
        config.requireOnly(OPTIONS);
        Target target = target(config);
        Duration timeout = config.getSeconds("timeout-seconds", 60);
        boolean workerT1 = flag(config, "worker-t1", true);
        boolean fetch = flag(config, "fetch-tokenizer", true);
        ManagedChannel channel = channel(config, target);
        try {
            WorkerGrpc.WorkerBlockingStub stub = WorkerGrpc.newBlockingStub(channel);
            ServedModel probe = new ServedModel(channel, stub, target.address(), "", timeout);
            DescribeResponse described = probe.call("Describe", s -> s.describe(DescribeRequest.getDefaultInstance()));
            if (described.getProtocol() != TableOneServer.PROTOCOL) {
                throw new FusionException("worker " + target.address() + " speaks protocol " + described.getProtocol()
                        + ", this client " + TableOneServer.PROTOCOL + "; use matching cool-fusion versions");
            }
            List<ModelInfo> served = described.getModelsList();
            String chosen = chooseModel(config, served.stream().map(ModelInfo::getName).toList(), "worker "
                    + target.address());
            ModelInfo info = served.stream().filter(m -> m.getName().equals(chosen)).findFirst().orElseThrow();
            String name = config.get("name", info.getName());
            ServedModel model = new ServedModel(channel, stub, target.address(), info.getName(), timeout);
            model.source(name);
            RemoteTextCodec remoteCodec = new RemoteTextCodec(model, info);
            TextCodec codec = remoteCodec;
            Optional<Path> fetched = Optional.empty();
            if (config.get("tokenizer").isPresent()) {
                codec = localTokenizer(config.get("tokenizer").get(), remoteCodec, target.address(), info.getName());
            } else if (fetch && info.getTokenizerExportable()) {
                TokenizerFiles files = model.call("ExportTokenizer", s -> s.exportTokenizer(
                        ExportTokenizerRequest.newBuilder().setModel(info.getName()).build()));
                Path dir = tempDir();
                fetched = Optional.of(dir);
                try {
                    codec = TokenizerTransfer.load(files, dir.resolve("tokenizer"));
                } catch (IllegalArgumentException e) {
                    throw new FusionException("the tokenizer worker " + target.address() + " sent for model '"
                            + info.getName() + "' does not load: " + e.getMessage()
                            + "; set fetch-tokenizer: false to tokenize on the worker", e);
                }
            }
            return new RemoteSourceModel(model, info, name, codec, workerT1, fetched);
        } catch (RuntimeException e) {
            channel.shutdownNow();
            throw e;
        }
    }

    private static Path tempDir() {
        try {
            Path dir = Files.createTempDirectory("cool-fusion-tokenizer-");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (java.io.IOException e) {
            throw new FusionException("cannot create a temporary directory for a fetched tokenizer: " + e.getMessage(), e);
        }
    }

    /** A channel to {@code target}: TLS when asked, the API key on every call, large answers allowed (tokenizers). */
    private static ManagedChannel channel(ProviderConfig config, Target target) {
        ChannelCredentials credentials;
        Optional<String> ca = config.get("tls-ca");
        if (!target.tls()) {
            credentials = InsecureChannelCredentials.create();
        } else if (ca.isPresent()) {
            try {
                credentials = TlsChannelCredentials.newBuilder().trustManager(new File(ca.get())).build();
            } catch (java.io.IOException | RuntimeException e) {
                throw new FusionException("provider 'remote' option 'tls-ca': cannot read certificates from " + ca.get()
                        + ": " + e.getMessage(), e);
            }
        } else {
            credentials = TlsChannelCredentials.create();
        }
        ManagedChannelBuilder<?> b = Grpc.newChannelBuilderForAddress(target.host(), target.port(), credentials)
                .maxInboundMessageSize(256 << 20)
                .intercept(WorkerCalls.COUNTER);
        Optional<String> key = config.get("api-key");
        if (key.isPresent()) {
            Metadata headers = new Metadata();
            headers.put(TableOneServer.AUTHORIZATION, "Bearer " + key.get());
            b.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        return b.build();
    }

    /** The {@code url} (or {@code target}) option as host, port and whether to use TLS, or an error naming it. */
    static Target target(ProviderConfig config) {
        Optional<String> url = config.get("url");
        Optional<String> target = config.get("target");
        if (url.isPresent() && target.isPresent()) {
            throw new FusionException("provider 'remote' takes 'url' or 'target', not both");
        }
        String option = url.isPresent() ? "url" : "target";
        String value = url.or(() -> target).orElseThrow(() -> new FusionException("provider '" + config.provider()
                + "' needs option 'url' (where the worker listens, e.g. http://127.0.0.1:8765)")).trim();
        boolean tls = config.get("tls-ca").isPresent();
        String rest = value;
        int scheme = value.indexOf("://");
        if (scheme >= 0) {
            String s = value.substring(0, scheme).toLowerCase(java.util.Locale.ROOT);
            if (s.equals("https") || s.equals("grpcs")) {
                tls = true;
            } else if (!s.equals("http") && !s.equals("grpc")) {
                throw new FusionException("provider '" + config.provider() + "' option '" + option + "' must look like"
                        + " http://host:port (https:// for TLS), got '" + value + "'");
            } else if (tls) {
                throw new FusionException("provider '" + config.provider() + "' option 'tls-ca' needs TLS: write the"
                        + " " + option + " as https://..., got '" + value + "'");
            }
            rest = value.substring(scheme + 3);
        }
        if (rest.endsWith("/")) {
            rest = rest.substring(0, rest.length() - 1);
        }
        URI uri;
        try {
            uri = URI.create("x://" + rest);
        } catch (IllegalArgumentException e) {
            throw new FusionException("provider '" + config.provider() + "' option '" + option + "' is not host:port: '"
                    + value + "'", e);
        }
        if (uri.getHost() == null || (uri.getPath() != null && !uri.getPath().isEmpty()) || uri.getQuery() != null) {
            throw new FusionException("provider '" + config.provider() + "' option '" + option + "' must look like"
                    + " http://host:port (https:// for TLS), got '" + value + "'");
        }
        String host = uri.getHost().startsWith("[") ? uri.getHost().substring(1, uri.getHost().length() - 1) : uri.getHost();
        return new Target(host, uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort(), tls);
    }

    private static boolean flag(ProviderConfig config, String option, boolean otherwise) {
        Optional<String> v = config.get(option);
        if (v.isEmpty()) {
            return otherwise;
        }
        return switch (v.get().trim().toLowerCase(java.util.Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new FusionException("provider '" + config.provider() + "' option '" + option
                    + "' must be true or false, got '" + v.get() + "'");
        };
    }

    /**
     * The served model the {@code model} option names, or the only one served; an error naming {@code server} and what
     * it serves otherwise.
     */
    static String chooseModel(ProviderConfig config, List<String> served, String server) {
        Optional<String> wanted = config.get("model");
        if (wanted.isPresent()) {
            if (!served.contains(wanted.get())) {
                throw new FusionException(server + " does not serve '" + wanted.get() + "'; it serves " + served);
            }
            return wanted.get();
        }
        if (served.size() != 1) {
            throw new FusionException(server + " serves " + served + "; choose one with the 'model' option");
        }
        return served.get(0);
    }

    private static TextCodec localTokenizer(String path, TextCodec served, String uri, String model) {
        HfTextCodec local = HfTextCodec.load(Path.of(path));
        try {
            checkSame(local, served, path, uri, model);
        } catch (RuntimeException e) {
            local.close();
            throw e;
        }
        return local;
    }

    private static void checkSame(TextCodec local, TextCodec served, String path, String uri, String model) {
        String where = "the tokenizer at " + path + " does not match model '" + model + "' served at " + uri;
        if (!local.endOfSequenceIds().equals(served.endOfSequenceIds())
                || !local.beginOfSequenceId().equals(served.beginOfSequenceId())) {
            throw new FusionException(where + ": end/begin-of-sequence ids " + local.endOfSequenceIds() + "/"
                    + local.beginOfSequenceId() + " against " + served.endOfSequenceIds() + "/" + served.beginOfSequenceId()
                    + "; point 'tokenizer' at the served model's folder");
        }
        for (String probe : PROBES) {
            if (!local.encodeContinuation(probe).equals(served.encodeContinuation(probe))
                    || !local.encodePrompt(probe).equals(served.encodePrompt(probe))) {
                throw new FusionException(where + ": it tokenizes " + quote(probe) + " differently; point 'tokenizer' at"
                        + " the served model's folder");
            }
            List<Integer> ids = served.encodeContinuation(probe).ids();
            if (!local.decodeContinuation(ids).equals(served.decodeContinuation(ids))) {
                throw new FusionException(where + ": it decodes " + quote(probe) + " differently");
            }
        }
    }

    private static String quote(String s) {
        return "\"" + s.replace("\n", "\\n") + "\"";
    }

}
