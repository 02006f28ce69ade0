package dev.coolfusion.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * What the stand-in servers share: a loopback {@link HttpServer} on a free port, backed by a real model behind the SPI,
 * that reads a POST body as JSON, hands the path and body to {@link #route}, and writes the JSON answer. A
 * {@link Refused} thrown while answering becomes the server's own error body ({@link #error}) with its status; any
 * other {@link RuntimeException} becomes one with {@link #failureStatus()}. Subclasses call {@link #start()} at the end
 * of their constructor, once their own fields are set.
 */
abstract class FakeHttpServer implements AutoCloseable {
    final SourceModel model;
    private final String contentType;
    private final HttpServer http;

    FakeHttpServer(SourceModel model, String contentType) throws IOException {
        this.model = model;
        this.contentType = contentType;
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        http.createContext("/", this::handle);
    }

    /** Starts answering; called last in a subclass constructor. */
    final void start() {
        http.start();
    }

    final URI uri() {
        return URI.create("http://127.0.0.1:" + http.getAddress().getPort());
    }

    @Override
    public final void close() {
        http.stop(0);
    }

    /** The answer to a request on {@code path}; {@code request} is the POST body, null for other methods. */
    abstract JsonNode route(String path, JsonNode request);

    /** The server's error body for a refusal (status, type where the server has one, message). */
    abstract JsonNode error(Refused refused);

    /** The status an unexpected failure answers with; its body is {@link #error} of a refusal with that status. */
    abstract int failureStatus();

    /** The type {@link #error} gets for an unexpected failure; null where the server's errors have none. */
    String failureType() {
        return null;
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            int status = 200;
            JsonNode body;
            try {
                String path = exchange.getRequestURI().getPath();
                JsonNode request = exchange.getRequestMethod().equals("POST")
                        ? Json.MAPPER.readTree(exchange.getRequestBody().readAllBytes()) : null;
                body = route(path, request);
            } catch (Refused e) {
                status = e.status;
                body = error(e);
            } catch (RuntimeException e) {
                status = failureStatus();
                body = error(new Refused(status, failureType(), e.toString()));
            }
            byte[] bytes = Json.MAPPER.writeValueAsBytes(body);
            exchange.getResponseHeaders().set("Content-Type", contentType);
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    /** A request the server turns down: the status, the server's error type (null where it has none), the message. */
    static final class Refused extends RuntimeException {
        final int status;
        final String type;

        Refused(int status, String type, String message) {
            super(message);
            this.status = status;
            this.type = type;
        }

        Refused(int status, String message) {
            this(status, null, message);
        }
    }

    // Helpers for the answers themselves.

    /** Opens {@code input} in the model (its first token, then the rest scored), the handles added to {@code handles}. */
    final ScoredTokens prefill(List<Integer> input, List<StateHandle> handles) {
        StateHandle first = model.open(input.subList(0, 1));
        handles.add(first);
        ScoredTokens rest = model.score(first, List.of(input.subList(1, input.size()))).get(0);
        handles.add(rest.state());
        return rest;
    }

    /** One step of the model from {@code at}, greedy or drawn from {@code seeded}; the new handle goes to {@code handles}. */
    final TokenStep step(StateHandle at, boolean greedy, double temperature, double topP, Random seeded,
            List<StateHandle> handles) {
        Decoding decoding = greedy ? Decoding.GREEDY : new Decoding(temperature, topP, seeded.nextDouble());
        TokenStep step = model.nextToken(at, decoding);
        handles.add(step.state());
        return step;
    }

    final boolean endOfSequence(int token) {
        return model.codec().endOfSequenceIds().contains(token);
    }

    /** The OpenAI-style {@code GET /v1/models} answer listing one model, with {@code max_model_len} where it is known. */
    final JsonNode openAiModels(String id, String ownedBy) {
        ObjectNode root = Json.MAPPER.createObjectNode().put("object", "list");
        ObjectNode m = root.putArray("data").addObject().put("id", id).put("object", "model").put("created", 0)
                .put("owned_by", ownedBy).put("root", id);
        model.maxContextTokens().ifPresent(n -> m.put("max_model_len", n));
        return root;
    }

    /** A non-empty JSON array of token ids as a list, else a 400 refusal with {@code message}. */
    static List<Integer> ints(JsonNode array, String type, String message) {
        if (!array.isArray() || array.isEmpty()) {
            throw new Refused(400, type, message);
        }
        List<Integer> out = new ArrayList<>();
        array.forEach(v -> out.add(v.asInt()));
        return out;
    }

    /** Puts a token piece's UTF-8 bytes, as numbers 0 to 255, in a {@code bytes} array of {@code entry}. */
    static void putBytes(ObjectNode entry, String piece) {
        ArrayNode bytes = entry.putArray("bytes");
        for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
    }
}
