package dev.coolfusion.inference;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;

/**
 * JSON over HTTP to one server (a vLLM, SGLang or Ollama server); every failure becomes a
 * {@link FusionException} that names the server, what was asked and what to do.
 */
final class JsonHttp {
    private final URI base;
    private final String kind;
    private final String startHint;
    private final HttpClient http;
    private final Duration timeout;
    private final Optional<String> bearer;

    /**
     * @param kind      what the server is, for messages ("vLLM server", "SGLang server")
     * @param startHint how to start it, for the connection-refused message
     */
    JsonHttp(URI base, Duration timeout, Optional<String> bearer, String kind, String startHint) {
        this.base = base;
        this.timeout = timeout;
        this.bearer = bearer;
        this.kind = kind;
        this.startHint = startHint;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
    }

    URI base() {
        return base;
    }

    <T> T get(String path, Class<T> type, String what) {
        return send(HttpRequest.newBuilder(base.resolve(path)).GET(), type, what);
    }

    <T> T post(String path, Object body, Class<T> type, String what) {
        byte[] json;
        try {
            json = Json.MAPPER.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        return send(HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(json)), type, what);
    }

    private <T> T send(HttpRequest.Builder request, Class<T> type, String what) {
        bearer.ifPresent(key -> request.header("Authorization", "Bearer " + key));
        HttpResponse<byte[]> response;
        try {
            response = http.send(request.timeout(timeout).build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (ConnectException e) {
            throw new FusionException("cannot reach the " + kind + " at " + base + " (" + what + "): connection refused; "
                    + startHint + " or fix the 'url' option", e);
        } catch (HttpTimeoutException e) {
            throw new FusionException("the " + kind + " at " + base + " did not answer within " + timeout.toSeconds()
                    + " s (" + what + "); raise 'timeout-seconds' or check the server", e);
        } catch (IOException e) {
            throw new FusionException("talking to the " + kind + " at " + base + " failed (" + what + "): " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FusionException("interrupted while waiting for the " + kind + " at " + base, e);
        }
        if (response.statusCode() != 200) {
            throw new FusionException(kind + " " + base + " refused " + what + ": " + errorMessage(response, kind));
        }
        try {
            return Json.MAPPER.readValue(response.body(), type);
        } catch (IOException e) {
            throw new FusionException(kind + " " + base + " sent an answer this client cannot read (" + what + "): "
                    + e.getMessage(), e);
        }
    }

    /** Longest stretch of a non-JSON error body quoted in a message. */
    static final int QUOTED_BODY_CHARS = 200;

    /**
     * The message of {@code {"error": "..."}}, {@code {"error": {"message": ...}}} or {@code {"message": ...}}; for any
     * other body (an HTML error page of a server that is not this kind) the status and what the body is, with at most
     * {@value #QUOTED_BODY_CHARS} characters of a plain-text body.
     */
    static String errorMessage(HttpResponse<byte[]> response, String kind) {
        String raw = new String(response.body(), StandardCharsets.UTF_8);
        try {
            JsonNode body = Json.MAPPER.readTree(response.body());
            JsonNode error = body.path("error");
            if (error.isTextual()) {
                return error.asText();
            }
            if (error.path("message").isTextual()) {
                return error.path("message").asText();
            }
            if (body.path("message").isTextual()) {
                return body.path("message").asText();
            }
        } catch (IOException notJson) {
            // fall through to the raw body
        }
        String type = response.headers().firstValue("Content-Type").orElse("");
        String trimmed = raw.strip();
        if (type.contains("html") || trimmed.startsWith("<")) {
            return "HTTP " + response.statusCode() + " with an HTML page (" + response.body().length + " bytes), not a JSON"
                    + " answer: is the 'url' option the address of a " + kind + "?";
        }
        if (trimmed.length() > QUOTED_BODY_CHARS) {
            trimmed = trimmed.substring(0, QUOTED_BODY_CHARS) + "... (" + raw.length() + " characters)";
        }
        return "HTTP " + response.statusCode() + ": " + trimmed;
    }
}
