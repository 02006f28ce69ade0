package dev.coolfusion.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.testkit.BundledModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** The bundled demo fusion, loaded once per test JVM, and a small HTTP client for the raw API. */
final class Fixtures {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    static final String KEY = "sk-test-7f3a9";
    /** A 3-shot-like prompt the bundled models answer in a few segments. */
    static final String QUESTION = "Question: Max has 18 shells and buys 7 packs of 5. He then gives away 5. How many"
            + " shells does he have?\nAnswer:";

    private static ConfiguredFusion bundled;

    private Fixtures() {}

    /** The three bundled models A, B and C ({@code models/fusion.yaml}), shared by every test class. */
    static synchronized ConfiguredFusion bundled() {
        if (bundled == null) {
            bundled = FusionFactory.discover().create(BundledModels.dir().resolve("fusion.yaml"));
            Runtime.getRuntime().addShutdownHook(new Thread(bundled::close));
        }
        return bundled;
    }

    /** A started server on the bundled fusion, on a free loopback port, with the test key unless changed. */
    static FusionServer serve(Consumer<FusionServer.Builder> settings) {
        return serve(bundled(), settings);
    }

    static FusionServer serve(ConfiguredFusion fused, Consumer<FusionServer.Builder> settings) {
        FusionServer.Builder b = FusionServer.builder().fusion(fused).port(0).apiKey(KEY);
        settings.accept(b);
        return b.build().start();
    }

    /** Every DJL source of the fusion has released all its states. */
    static void assertNoLiveStates(ConfiguredFusion fused) {
        for (SourceModel s : fused.sources()) {
            if (s instanceof DjlSourceModel d) {
                assertEquals(0, d.liveStates(), s.name() + " holds states");
            }
        }
    }

    static int liveStates(ConfiguredFusion fused) {
        int n = 0;
        for (SourceModel s : fused.sources()) {
            if (s instanceof DjlSourceModel d) {
                n += d.liveStates();
            }
        }
        return n;
    }

    /** An answer: status, headers and body. */
    record Answer(int status, HttpResponse<String> response) {
        String body() {
            return response.body();
        }

        JsonNode json() {
            try {
                return JSON.readTree(response.body());
            } catch (IOException e) {
                throw new UncheckedIOException("not JSON: " + response.body(), e);
            }
        }

        String header(String name) {
            return response.headers().firstValue(name).orElse(null);
        }

        /** The data of every server-sent event, in order ({@code [DONE]} included). */
        List<String> events() {
            List<String> out = new ArrayList<>();
            for (String event : response.body().split("\n\n")) {
                for (String line : event.split("\n")) {
                    if (line.startsWith("data: ")) {
                        out.add(line.substring(6));
                    }
                }
            }
            return out;
        }
    }

    static Answer post(FusionServer server, String path, String body) {
        return post(server, path, body, KEY);
    }

    static Answer post(FusionServer server, String path, String body, String key) {
        HttpRequest.Builder r = HttpRequest.newBuilder(server.uri().resolve(path)).timeout(Duration.ofMinutes(3))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            r.header("Authorization", "Bearer " + key);
        }
        return send(r.build());
    }

    static Answer get(FusionServer server, String path, String key) {
        HttpRequest.Builder r = HttpRequest.newBuilder(server.uri().resolve(path)).timeout(Duration.ofMinutes(1)).GET();
        if (key != null) {
            r.header("Authorization", "Bearer " + key);
        }
        return send(r.build());
    }

    static Answer send(HttpRequest request) {
        try {
            HttpResponse<String> r = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
            return new Answer(r.statusCode(), r);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A JSON string literal. */
    static String q(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static URI v1(FusionServer server) {
        return server.uri().resolve("/v1");
    }
}
