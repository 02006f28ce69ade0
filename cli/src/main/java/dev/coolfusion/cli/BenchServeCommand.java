package dev.coolfusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.server.FusionServer;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Measures the fused model's OpenAI-compatible server on loopback: requests per second and time to the first streamed
 * segment at several numbers of concurrent clients, and whether every answer equals the sequential one.
 */
@Command(name = "bench-serve", description = {
    "Start 'serve' on loopback in this process and send it streamed /v1/completions (few-shot prompts of --data) from"
        + " 1, 4 and 16 concurrent clients (--clients): requests per second, time to first segment and latency (median,"
        + " 95th percentile), 429s, and whether every answer equals the one a lone client gets."})
final class BenchServeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", defaultValue = "models/fusion.yaml", description = "Fusion config (default: ${DEFAULT-VALUE}).")
    Path config;

    @Option(names = "--data", defaultValue = "models/heldout.jsonl", description = "Questions, GSM8K format (default: ${DEFAULT-VALUE}).")
    Path data;

    @Option(names = "--clients", split = ",", defaultValue = "1,4,16", description = "Concurrent clients, one"
            + " measurement each (default: ${DEFAULT-VALUE}).")
    List<Integer> clients;

    @Option(names = "--requests", defaultValue = "32", description = "Requests per measurement, shared among the"
            + " clients (default: ${DEFAULT-VALUE}).")
    int requests;

    @Option(names = "--prompts", defaultValue = "8", description = "Distinct prompts, cycled (default: ${DEFAULT-VALUE}).")
    int prompts;

    @Option(names = "--max-concurrent", paramLabel = "N", description = "The server's most concurrent generations"
            + " (default: ${DEFAULT-VALUE}, as serve).")
    int maxConcurrent = FusionServer.defaultMaxConcurrent();

    @Option(names = "--max-queue", paramLabel = "N", defaultValue = "64", description = "The server's queue (default:"
            + " ${DEFAULT-VALUE}, as serve).")
    int maxQueue;

    /** One request's outcome. */
    private record Timing(int prompt, int status, String text, double firstSegmentMs, double totalMs) {}

    @Override
    public Integer call() throws Exception {
        if (requests < 1 || prompts < 1 || clients.isEmpty() || clients.stream().anyMatch(c -> c < 1)) {
            throw new FusionException("--requests, --prompts and every --clients value must be at least 1");
        }
        PrintWriter out = spec.commandLine().getOut();
        DjlThreads.configure();
        List<GsmItem> items = GsmData.read(data);
        FewShot shots = GsmDataOptions.builtInShots(3);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < Math.min(prompts, items.size()); i++) {
            texts.add(shots.prompt(items.get(i).question()));
        }
        try (ConfiguredFusion setup = FusionFactory.discover().create(config);
             FusionServer server = FusionServer.builder().fusion(setup).port(0).maxConcurrent(maxConcurrent)
                     .maxQueued(maxQueue).build().start()) {
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            URI completions = server.uri().resolve("/v1/completions");
            // A lone client, each prompt once: the reference answers (and the warm-up).
            List<String> reference = new ArrayList<>();
            for (int i = 0; i < texts.size(); i++) {
                Timing t = request(http, completions, server.modelName(), i, texts.get(i));
                if (t.status() != 200) {
                    throw new FusionException("the server answered " + t.status() + " to a lone request: " + t.text());
                }
                reference.add(t.text());
            }
            out.printf(Locale.ROOT, "%s on %s (loopback, in process): at most %d generations at once, %d queued;"
                    + " %d streamed 3-shot completions per row over %d prompts from %s; %d processors%n", server.modelName(),
                    server.uri(), server.maxConcurrent(), server.maxQueued(), requests, texts.size(), data,
                    Runtime.getRuntime().availableProcessors());
            out.printf(Locale.ROOT, "%8s %10s %14s %14s %14s %14s %6s %10s%n", "clients", "req/s", "first seg p50",
                    "first seg p95", "latency p50", "latency p95", "429s", "identical");
            int different = 0;
            for (int c : clients) {
                ExecutorService pool = Executors.newFixedThreadPool(c);
                AtomicInteger next = new AtomicInteger();
                List<Timing> timings = Collections.synchronizedList(new ArrayList<>());
                long t0 = System.nanoTime();
                try {
                    List<CompletableFuture<Void>> running = new ArrayList<>();
                    for (int k = 0; k < c; k++) {
                        running.add(CompletableFuture.runAsync(() -> {
                            for (int i; (i = next.getAndIncrement()) < requests; ) {
                                int p = i % texts.size();
                                timings.add(request(http, completions, server.modelName(), p, texts.get(p)));
                            }
                        }, pool));
                    }
                    CompletableFuture.allOf(running.toArray(CompletableFuture[]::new)).join();
                } finally {
                    pool.shutdown();
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                List<Timing> ok = timings.stream().filter(t -> t.status() == 200).toList();
                long busy = timings.stream().filter(t -> t.status() == 429).count();
                int same = (int) ok.stream().filter(t -> t.text().equals(reference.get(t.prompt()))).count();
                different += ok.size() - same;
                double[] first = ok.stream().mapToDouble(Timing::firstSegmentMs).sorted().toArray();
                double[] total = ok.stream().mapToDouble(Timing::totalMs).sorted().toArray();
                out.printf(Locale.ROOT, "%8d %10.2f %11.0f ms %11.0f ms %11.0f ms %11.0f ms %6d %7d/%d%n", c,
                        ok.size() / seconds, percentile(first, 0.5), percentile(first, 0.95), percentile(total, 0.5),
                        percentile(total, 0.95), busy, same, ok.size());
                out.flush();
            }
            return different == 0 ? 0 : 1;
        }
    }

    private static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }

    /** One streamed completion: the time to its first non-empty segment, the whole time, and its text. */
    private static Timing request(HttpClient http, URI uri, String model, int index, String prompt) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        body.put("prompt", prompt);
        body.put("stream", true);
        long t0 = System.nanoTime();
        try {
            HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build();
            HttpResponse<Stream<String>> response = http.send(request, HttpResponse.BodyHandlers.ofLines());
            if (response.statusCode() != 200) {
                String error = String.join("\n", response.body().toList());
                return new Timing(index, response.statusCode(), error, Double.NaN, (System.nanoTime() - t0) / 1e6);
            }
            StringBuilder text = new StringBuilder();
            double first = Double.NaN;
            for (String line : (Iterable<String>) response.body()::iterator) {
                if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                    continue;
                }
                JsonNode chunk = JSON.readTree(line.substring(6));
                if (chunk.has("error")) {
                    throw new FusionException("the stream failed: " + chunk.path("error").path("message").asText());
                }
                String piece = chunk.at("/choices/0/text").asText("");
                if (!piece.isEmpty() && Double.isNaN(first)) {
                    first = (System.nanoTime() - t0) / 1e6;
                }
                text.append(piece);
            }
            return new Timing(index, 200, text.toString(), first, (System.nanoTime() - t0) / 1e6);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FusionException("interrupted", e);
        }
    }
}
