package dev.coolfusion.cli;

import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.remote.TableOneServer;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.SourceModel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Serves source models over gRPC (the worker protocol, {@code coolfusion.worker.v1.Worker}) until interrupted: a worker
 * for the {@code remote} provider of a fusion in another process or on another machine, which runs T1 for its models.
 * ({@code cool-fusion serve} serves the fused model itself.)
 */
@Command(name = "worker", description = {
    "Serve source models over gRPC with the Table-1 worker protocol (coolfusion.worker.v1, T1 on the worker), for the"
        + " 'remote' provider of another process or machine. To serve the fused model to OpenAI clients, use"
        + " 'cool-fusion serve'.",
    "Binds to 127.0.0.1 unless --host says otherwise; stops on Ctrl-C, releasing every state clients still hold.",
    "States no call used for --state-ttl seconds are released, so vanished clients leave nothing behind.",
    "Calls over a --max-* limit are refused (RESOURCE_EXHAUSTED) before the models run. Also serves grpc.health.v1."})
final class WorkerCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    GenerateCommand.Sources sources;

    @Option(names = "--source", paramLabel = "NAME", description = "Serve only this source of --config (its 'name'"
            + " option; repeat for several): one worker per source, as on separate GPU nodes. Default: every source.")
    List<String> only;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Interface to bind (default: ${DEFAULT-VALUE};"
            + " 0.0.0.0 exposes the models to the network: set --api-key too).")
    String host;

    @Option(names = "--api-key", defaultValue = "${env:COOL_FUSION_API_KEY}", description = "Require"
            + " the metadata 'authorization: Bearer <key>' on every call (the remote provider's api-key option). Default: the"
            + " COOL_FUSION_API_KEY environment variable, which keeps the key off the command line; none if unset.")
    String apiKey;

    @Option(names = "--state-ttl", defaultValue = "600", paramLabel = "SECONDS", description = "Release a state no"
            + " request has used for this long (default: ${DEFAULT-VALUE}; 0 keeps states until released or stopped).")
    long stateTtl;

    @Option(names = "--port", defaultValue = "8765", description = "Port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--threads", defaultValue = "4", description = "Call threads (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "Speak TLS with this certificate chain (with"
            + " --tls-key); clients use an https:// url, and tls-ca for a private certificate authority.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "The PKCS#8 private key of --tls-cert.")
    Path tlsKey;

    @Option(names = "--tokenizer-cache", paramLabel = "DIR", description = "Keep the tokenizers clients register"
            + " (for T1 with the fusion's other models) in this folder, so a restarted worker still has them"
            + " (default: a temporary folder removed on exit).")
    Path tokenizerCache;

    // The limits' defaults are ServerLimits.DEFAULTS (picocli shows a field's initial value as its default).

    @Option(names = "--max-body-bytes", paramLabel = "BYTES", description = "Refuse a message larger than this (gRPC's maximum"
            + " inbound message size), before reading it (default: ${DEFAULT-VALUE}, 8 MiB).")
    long maxBodyBytes = ServerLimits.DEFAULTS.maxBodyBytes();

    @Option(names = "--max-candidates", paramLabel = "N", description = "Most candidates in one score request (default:"
            + " ${DEFAULT-VALUE}).")
    int maxCandidates = ServerLimits.DEFAULTS.maxCandidates();

    @Option(names = "--max-tokens-per-candidate", paramLabel = "N", description = "Most tokens in one score candidate"
            + " (default: ${DEFAULT-VALUE}).")
    int maxTokensPerCandidate = ServerLimits.DEFAULTS.maxTokensPerCandidate();

    @Option(names = "--max-tokens-per-request", paramLabel = "N", description = "Most tokens in one request: an open's"
            + " prompt, a score's candidates times its longest (default: ${DEFAULT-VALUE}).")
    int maxTokensPerRequest = ServerLimits.DEFAULTS.maxTokensPerRequest();

    @Option(names = "--max-live-states", paramLabel = "N", description = "Most states all clients together may hold"
            + " (default: ${DEFAULT-VALUE}).")
    int maxLiveStates = ServerLimits.DEFAULTS.maxLiveStates();

    @Option(names = "--max-live-states-per-client", paramLabel = "N", description = "Most states one client may hold:"
            + " per API key with --api-key, else per remote address (default: ${DEFAULT-VALUE}).")
    int maxLiveStatesPerClient = ServerLimits.DEFAULTS.maxLiveStatesPerClient();

    /** Counted down by the shutdown hook (Ctrl-C), or by an embedding caller, to stop serving. */
    final CountDownLatch stop = new CountDownLatch(1);

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        DjlThreads.configure();
        FusionConfig loaded = sources.config != null ? FusionConfigLoader.load(sources.config)
                : GenerateCommand.fromModels(sources.models);
        FusionConfig config = only != null && !only.isEmpty() ? onlySources(loaded, only) : loaded;
        if (stateTtl < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--state-ttl must be 0 (never expire) or a number of seconds, got " + stateTtl);
        }
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tls-cert and --tls-key go together");
        }
        ServerLimits limits;
        try {
            limits = new ServerLimits(maxBodyBytes, maxCandidates, maxTokensPerCandidate, maxTokensPerRequest,
                    maxLiveStates, maxLiveStatesPerClient);
        } catch (FusionException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        TableOneServer.Builder builder = TableOneServer.builder().host(host).port(port).threads(threads)
                .stateTtl(Duration.ofSeconds(stateTtl)).limits(limits);
        if (tlsCert != null) {
            builder.tls(tlsCert, tlsKey);
        }
        if (tokenizerCache != null) {
            builder.tokenizerCache(tokenizerCache);
        }
        boolean keyed = Serving.keyed(apiKey, host, "the models", spec.commandLine().getErr());
        if (keyed) {
            builder.apiKey(apiKey);
        }
        Serving.untilStopped(stop, "worker-shutdown", () -> {
            try (ConfiguredFusion setup = FusionFactory.discover().create(config)) {
                for (SourceModel model : setup.sources()) {
                    builder.model(model);
                }
                try (TableOneServer server = builder.build()) {
                    server.start();
                    out.printf("worker serving %s at %s (Ctrl-C stops)%n", server.modelNames(), server.uri());
                    out.printf("limits: %s%n", server.limits());
                    out.println("a fusion config that uses them (for generate, eval or serve --config):");
                    out.print(clientConfig(server, keyed, config));
                    out.flush();
                    stop.await();
                }
            }
        });
        out.println("stopped");
        out.flush();
        return 0;
    }

    /** The config with only the named sources (by their {@code name} option), in the config's order. */
    private FusionConfig onlySources(FusionConfig config, List<String> names) {
        List<ComponentSpec> kept = new ArrayList<>();
        List<String> known = new ArrayList<>();
        for (ComponentSpec source : config.sources()) {
            String name = source.options().get("name");
            known.add(String.valueOf(name));
            if (name != null && names.contains(name)) {
                kept.add(source);
            }
        }
        for (String name : names) {
            if (!known.contains(name)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--source " + name + ": the config has no"
                        + " source named so; its sources' names: " + known);
            }
        }
        return new FusionConfig(kept, config.metric(), config.options());
    }

    /** The placeholder for the API key in the printed client config (the key itself is never printed). */
    static final String KEY_PLACEHOLDER = "<the key given to worker>";

    /**
     * A config whose sources are {@code remote} clients of the served models, with the original config's metric and
     * generation options (stop strings, limits, sampling), so that a client fuses exactly as in process.
     */
    private static String clientConfig(TableOneServer server, boolean keyed, FusionConfig original) {
        List<ComponentSpec> remote = new ArrayList<>();
        for (String name : server.modelNames()) {
            Map<String, String> options = new LinkedHashMap<>();
            options.put("url", server.uri().toString());
            options.put("model", name);
            if (keyed) {
                options.put("api-key", KEY_PLACEHOLDER);
            }
            remote.add(ComponentSpec.of("remote", options));
        }
        return FusionConfigLoader.toYaml(new FusionConfig(remote, original.metric(), original.options()));
    }
}
