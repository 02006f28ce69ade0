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

/** Fuses the same prompts in process and through a loopback model server, and reports what the network costs. */
@Command(name = "bench-remote", description = "Fuse the same few-shot prompts with a config's models in process and"
        + " through a loopback 'worker' server (the remote provider), in one run: wall time, ratio, requests per step,"
        + " and whether every output is identical.")
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

    @Override
    public Integer call() {
        if (items < 1) {
            throw new FusionException("--items must be at least 1, got " + items);
        }
        DjlThreads.configure();
        List<GsmItem> questions = GsmData.read(data);
        questions = questions.subList(0, Math.min(items + 2, questions.size()));
        try (ConfiguredFusion setup = FusionFactory.discover().create(config)) {
            TableOneServer.Builder builder = TableOneServer.builder();
            setup.sources().forEach(builder::model);
            List<SourceModel> opened = new ArrayList<>();
            try (TableOneServer server = builder.build().start()) {
                List<SourceModel> remote = remoteModels(server, setup, false, opened);
                List<SourceModel> remoteLocalTokenizers = remoteModels(server, setup, true, opened);
                List<Way> ways = new ArrayList<>();
                ways.add(new Way("in process", CoolFusion.builder().sources(setup.sources()).metric(setup.metric()).build()));
                ways.add(new Way("over HTTP", CoolFusion.builder().sources(remote).metric(setup.metric()).build()));
                if (remoteLocalTokenizers.size() == remote.size()) {
                    ways.add(new Way("HTTP, local tokenizers",
                            CoolFusion.builder().sources(remoteLocalTokenizers).metric(setup.metric()).build()));
                }
                return measure(ways, questions, setup, server);
            } finally {
                opened.forEach(SourceModel::close);
            }
        }
    }

    /**
     * A {@code remote} client of every served model; with {@code localTokenizers}, each with its source's folder as a
     * local tokenizer (only the sources that have a {@code path}). Each is also added to {@code opened}, to close.
     */
    private static List<SourceModel> remoteModels(TableOneServer server, ConfiguredFusion setup, boolean localTokenizers,
            List<SourceModel> opened) {
        Plugins plugins = Plugins.discover();
        List<SourceModel> out = new ArrayList<>();
        for (int i = 0; i < setup.sources().size(); i++) {
            Map<String, String> options = new HashMap<>(Map.of("url", server.uri().toString(), "model",
                    server.modelNames().get(i)));
            if (localTokenizers) {
                String path = setup.config().orElseThrow().sources().get(i).options().get("path");
                if (path == null) {
                    continue;
                }
                options.put("tokenizer", path);
            }
            SourceModel model = plugins.sourceModel(ComponentSpec.of("remote", options));
            opened.add(model);
            out.add(model);
        }
        return out;
    }

    /** Fuses every question every way (the first two warm up), prints the table; 0 when every output is identical. */
    private int measure(List<Way> ways, List<GsmItem> questions, ConfiguredFusion setup, TableOneServer server) {
        PrintWriter out = spec.commandLine().getOut();
        FewShot shots = GsmDataOptions.builtInShots(3);
        long steps = 0;
        for (int i = 0; i < questions.size(); i++) {
            String prompt = shots.prompt(questions.get(i).question());
            boolean warmUp = i < 2;
            String reference = null;
            for (Way way : ways) {
                long r0 = server.requestCount();
                long t0 = System.nanoTime();
                Generation g = way.fusion.generate(prompt, setup.options());
                long t1 = System.nanoTime();
                if (reference == null) {
                    reference = g.text();
                    steps += warmUp ? 0 : g.steps().size();
                }
                if (!warmUp) {
                    way.nanos += t1 - t0;
                    way.requests += server.requestCount() - r0;
                    way.different += g.text().equals(reference) ? 0 : 1;
                }
            }
        }
        int n = questions.size() - 2;
        out.printf(Locale.ROOT, "%d prompts (after 2 warm-up), %d fused steps, sources %s, server %s%n", n, steps,
                server.modelNames(), server.uri());
        out.printf(Locale.ROOT, "%-24s %12s %12s %14s %10s %12s%n", "", "ms/prompt", "ms/step", "requests/step",
                "vs local", "identical");
        long localNanos = ways.get(0).nanos;
        int different = 0;
        for (Way way : ways) {
            out.printf(Locale.ROOT, "%-24s %12.1f %12.2f %14.1f %9.2fx %9d/%d%n", way.name, way.nanos / 1e6 / n,
                    way.nanos / 1e6 / steps, (double) way.requests / steps, (double) way.nanos / localNanos,
                    n - way.different, n);
            different += way.different;
        }
        Way http = ways.get(1);
        out.printf(Locale.ROOT, "network cost over HTTP: %.3f ms per request%n",
                (http.nanos - localNanos) / 1e6 / Math.max(1, http.requests));
        out.flush();
        return different == 0 ? 0 : 1;
    }
}
