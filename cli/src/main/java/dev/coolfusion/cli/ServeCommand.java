package dev.coolfusion.cli;

import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.server.FusionServer;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.spi.FusionException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Serves the fused model over an OpenAI-compatible API, with a live web playground, until interrupted. */
@Command(name = "serve", description = {
    "Serve the fused model over an OpenAI-compatible API (POST /v1/chat/completions, POST /v1/completions, streaming,"
        + " GET /v1/models, GET /health) and a live playground page at /, for OpenAI clients, LangChain4j's OpenAI"
        + " models and lm-evaluation-harness.",
    "Binds to 127.0.0.1 unless --host says otherwise; stops on Ctrl-C. At most --max-concurrent generations run at"
        + " once and --max-queue wait; more is HTTP 429. (The Table-1 worker for the 'remote' provider is"
        + " 'cool-fusion worker'.)"})
final class ServeCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    GenerateCommand.Sources sources;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Interface to bind (default: ${DEFAULT-VALUE};"
            + " 0.0.0.0 exposes the model to the network: set --api-key too).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "Port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--api-key", defaultValue = "${env:COOL_FUSION_API_KEY}", description = "Require"
            + " 'Authorization: Bearer <key>' on every /v1 request (the OpenAI clients' api_key). Default: the"
            + " COOL_FUSION_API_KEY environment variable, which keeps the key off the command line; none if unset.")
    String apiKey;

    @Option(names = "--served-model-name", paramLabel = "NAME", description = "The model name /v1/models lists and"
            + " requests use (default: cool-fusion(<source names joined by +>)).")
    String modelName;

    @Option(names = "--max-concurrent", paramLabel = "N", description = "Most generations at once (default:"
            + " ${DEFAULT-VALUE}: one per processor, at least 8).")
    int maxConcurrent = FusionServer.defaultMaxConcurrent();

    @Option(names = "--max-queue", paramLabel = "N", defaultValue = "64", description = "Most requests waiting for a"
            + " generation slot; more is HTTP 429 with Retry-After (default: ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--request-timeout", paramLabel = "SECONDS", defaultValue = "300", description = "Each request's"
            + " time limit, queueing included; a generation past it stops at its next segment (HTTP 504, or an error"
            + " event in a stream) (default: ${DEFAULT-VALUE}).")
    long requestTimeout;

    // The limits' defaults are ServerLimits.DEFAULTS (picocli shows a field's initial value as its default).

    @Option(names = "--max-body-bytes", paramLabel = "BYTES", description = "Refuse a request body larger than this,"
            + " before reading it (default: ${DEFAULT-VALUE}, 8 MiB).")
    long maxBodyBytes = ServerLimits.DEFAULTS.maxBodyBytes();

    @Option(names = "--max-tokens-per-request", paramLabel = "N", description = "Most tokens of a prompt (in any"
            + " source's tokenization) and of max_tokens (default: ${DEFAULT-VALUE}).")
    int maxTokensPerRequest = ServerLimits.DEFAULTS.maxTokensPerRequest();

    /** Counted down by the shutdown hook (Ctrl-C), or by an embedding caller, to stop serving. */
    final CountDownLatch stop = new CountDownLatch(1);

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        FusionServer.Builder builder = FusionServer.builder();
        ServerLimits limits;
        try {
            limits = ServerLimits.DEFAULTS.withMaxBodyBytes(maxBodyBytes).withMaxTokensPerRequest(maxTokensPerRequest);
            builder.host(host).port(port).maxConcurrent(maxConcurrent).maxQueued(maxQueue).limits(limits)
                    .requestTimeout(Duration.ofSeconds(requestTimeout));
            if (modelName != null) {
                builder.modelName(modelName);
            }
        } catch (FusionException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        boolean keyed = Serving.keyed(apiKey, host, "the model", spec.commandLine().getErr());
        if (keyed) {
            builder.apiKey(apiKey);
        }
        DjlThreads.configure();
        quietHttpLogs();
        FusionConfig config = sources.config != null ? FusionConfigLoader.load(sources.config)
                : GenerateCommand.fromModels(sources.models);
        Serving.untilStopped(stop, "serve-shutdown", () -> {
            try (ConfiguredFusion setup = FusionFactory.discover().create(config);
                 FusionServer server = builder.fusion(setup).build().start()) {
                out.printf("serving %s (sources %s) at %s (Ctrl-C stops)%n", server.modelName(), setup.sourceNames(),
                        server.uri());
                out.printf("OpenAI-compatible API: %s/v1 (POST /v1/chat/completions, POST /v1/completions, GET"
                        + " /v1/models)%n", server.uri());
                out.printf("playground: %s/%n", server.uri());
                out.printf("generations: %d at once, %d queued, %d s per request; limits: body %d bytes, %d tokens per"
                        + " request%n", server.maxConcurrent(), server.maxQueued(), requestTimeout, limits.maxBodyBytes(),
                        limits.maxTokensPerRequest());
                out.printf("try: curl %s/v1/chat/completions -H 'Content-Type: application/json'%s -d '{\"messages\":"
                        + " [{\"role\": \"user\", \"content\": \"What is 2 + 3?\"}]}'%n", server.uri(),
                        keyed ? " -H 'Authorization: Bearer <the key given to serve>'" : "");
                out.flush();
                stop.await();
            }
        });
        out.println("stopped");
        out.flush();
        return 0;
    }

    /** Jetty and Javalin say little worth reading at INFO (versions, "started"); warnings still show. */
    private static void quietHttpLogs() {
        for (String logger : new String[] {"org.eclipse.jetty", "io.javalin"}) {
            String property = "org.slf4j.simpleLogger.log." + logger;
            if (System.getProperty(property) == null) {
                System.setProperty(property, "warn");
            }
        }
    }
}
