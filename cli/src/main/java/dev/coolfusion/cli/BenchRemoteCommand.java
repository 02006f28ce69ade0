package dev.coolfusion.cli;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.remote.TableOneServer;
import dev.coolfusion.remote.WorkerCalls;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.SourceModel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Fuses the same prompts in process and through workers (one per source, as in the paper's Section 2.4), with T1 on the
 * workers and with the per-token path, and reports what the network costs: calls per fused step (counted by
 * {@link WorkerCalls}, the client's monitoring) and time per step.
 */
@Command(name = "bench-remote", description = "Fuse the same few-shot prompts with a config's models in process and"
        + " through workers (one per source: loopback workers in this JVM, or --workers), with T1 on the workers and"
        + " with one call per token, in one run: time per prompt and per step, calls per step, and whether every"
        + " output is identical.")
final class BenchRemoteCommand implements Callable<Integer> {
    /** One way of running the fusion, and what it cost. */
    private static final class Way {
        final String name;
        final CoolFusion fusion;
        long nanos;
        long requests;
        int different;

        Way(String name, CoolFusion fusion) {
            this.name = name;
            this.fusion = fusion;
        }
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", defaultValue = "models/fusion.yaml", description = "Fusion config (default: ${DEFAULT-VALUE}).")
    Path config;

    @Option(names = "--data", defaultValue = "models/heldout.jsonl", description = "Questions, GSM8K format (default: ${DEFAULT-VALUE}).")
    Path data;

    @Option(names = "--items", defaultValue = "20", description = "Questions to fuse each way (default: ${DEFAULT-VALUE}).")
    int items;

    @Option(names = "--workers", split = ",", paramLabel = "URL", description = "Workers already running, one per"
            + " source in the config's order (e.g. http://10.0.1.2:8765,http://10.0.2.2:8765,...); each must serve its"
            + " source under the source's name. Default: a loopback worker per source, started in this JVM.")
    List<String> workers;

    @Option(names = "--api-key", defaultValue = "${env:COOL_FUSION_API_KEY}", description = "The workers' API key"
            + " (--workers only; default: the COOL_FUSION_API_KEY environment variable).")
    String apiKey;

    @Override
    public Integer call() {
        if (items < 1) {
            throw new FusionException("--items must be at least 1, got " + items);
        }
        DjlThreads.configure();
        List<GsmItem> questions = GsmData.read(data);
        questions = questions.subList(0, Math.min(items + 2, questions.size()));
        try (ConfiguredFusion setup = FusionFactory.discover().create(config)) {
            List<TableOneServer> started = new ArrayList<>();
            List<SourceModel> opened = new ArrayList<>();
            try {
                List<String> urls = new ArrayList<>();
                if (workers == null || workers.isEmpty()) {
                    for (SourceModel model : setup.sources()) {
                        TableOneServer server = TableOneServer.builder().model(model).build().start();
                        started.add(server);
                        urls.add(server.uri().toString());
                    }
                } else if (workers.size() != setup.sources().size()) {
                    throw new FusionException("--workers names " + workers.size() + " workers for "
                            + setup.sources().size() + " sources; give one per source, in the config's order");
                } else {
                    urls.addAll(workers);
                }
                List<Way> ways = new ArrayList<>();
                ways.add(new Way("in process", CoolFusion.builder().sources(setup.sources()).metric(setup.metric()).build()));
                ways.add(new Way("workers, T1", CoolFusion.builder().sources(remoteModels(urls, setup, true, opened))
                        .metric(setup.metric()).build()));
                ways.add(new Way("workers, per token", CoolFusion.builder()
                        .sources(remoteModels(urls, setup, false, opened)).metric(setup.metric()).build()));
                return measure(ways, questions, setup, urls);
            } finally {
                opened.forEach(SourceModel::close);
                started.forEach(TableOneServer::close);
            }
        }
    }

    /** A {@code remote} client of each source's worker, with T1 on the worker or not. Each is added to {@code opened}. */
    private List<SourceModel> remoteModels(List<String> urls, ConfiguredFusion setup, boolean workerT1,
            List<SourceModel> opened) {
        Plugins plugins = Plugins.discover();
        List<SourceModel> out = new ArrayList<>();
        for (int i = 0; i < setup.sources().size(); i++) {
            Map<String, String> options = new HashMap<>(Map.of("url", urls.get(i), "model",
                    setup.sources().get(i).name(), "worker-t1", Boolean.toString(workerT1)));
            if (workers != null && !workers.isEmpty() && apiKey != null && !apiKey.isEmpty()) {
                options.put("api-key", apiKey);
            }
            SourceModel model = plugins.sourceModel(ComponentSpec.of("remote", options));
            opened.add(model);
            out.add(model);
        }
        return out;
    }

    /** Fuses every question every way (the first two warm up), prints the table; 0 when every output is identical. */
    private int measure(List<Way> ways, List<GsmItem> questions, ConfiguredFusion setup, List<String> urls) {
        PrintWriter out = spec.commandLine().getOut();
        FewShot shots = GsmDataOptions.builtInShots(3);
        long steps = 0;
        for (int i = 0; i < questions.size(); i++) {
            String prompt = shots.prompt(questions.get(i).question());
            boolean warmUp = i < 2;
            String reference = null;
            for (Way way : ways) {
                long r0 = WorkerCalls.count();
                long t0 = System.nanoTime();
                Generation g = way.fusion.generate(prompt, setup.options());
                long t1 = System.nanoTime();
                if (reference == null) {
                    reference = g.text();
                    steps += warmUp ? 0 : g.steps().size();
                }
                if (!warmUp) {
                    way.nanos += t1 - t0;
                    way.requests += WorkerCalls.count() - r0;
                    way.different += g.text().equals(reference) ? 0 : 1;
                }
            }
        }
        int n = questions.size() - 2;
        int sources = setup.sources().size();
        out.printf(Locale.ROOT, "%d prompts (after 2 warm-up), %d fused steps, %d sources, workers %s%n", n, steps,
                sources, urls);
        out.printf(Locale.ROOT, "%-24s %12s %12s %14s %16s %10s %12s%n", "", "ms/prompt", "ms/step", "requests/step",
                "per worker/step", "vs local", "identical");
        long localNanos = ways.get(0).nanos;
        int different = 0;
        for (Way way : ways) {
            double perStep = (double) way.requests / steps;
            out.printf(Locale.ROOT, "%-24s %12.1f %12.2f %14.1f %16.2f %9.2fx %9d/%d%n", way.name, way.nanos / 1e6 / n,
                    way.nanos / 1e6 / steps, perStep, perStep / sources, (double) way.nanos / localNanos,
                    n - way.different, n);
            different += way.different;
        }
        Way t1 = ways.get(1);
        Way perToken = ways.get(2);
        out.printf(Locale.ROOT, "T1 on the workers: %.2fx the calls and %.2fx the time of the per-token path%n",
                (double) t1.requests / Math.max(1, perToken.requests), (double) t1.nanos / perToken.nanos);
        out.printf(Locale.ROOT, "network cost of the per-token path: %.3f ms per call%n",
                (perToken.nanos - localNanos) / 1e6 / Math.max(1, perToken.requests));
        out.flush();
        return different == 0 ? 0 : 1;
    }
}
