package dev.coolfusion.remote;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

/** JSON over HTTP to one model server; every failure becomes a {@link FusionException} that names the server. */
final class RemoteClient {
    private final URI base;
    private final HttpClient http;
    private final Duration timeout;

    RemoteClient(URI base, Duration timeout) {
        this.base = base;
        this.timeout = timeout;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
    }

    URI base() {
        return base;
    }

    Wire.Models models() {
        return send(HttpRequest.newBuilder(base.resolve(Wire.MODELS)).GET(), Wire.Models.class, "list models");
    }

    <T> T post(String model, String operation, Object body, Class<T> type) {
        byte[] json;
        try {
            json = Wire.JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(Wire.MODELS + "/" + model + "/" + operation))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(json));
        return send(request, type, operation + " on model '" + model + "'");
    }

    private <T> T send(HttpRequest.Builder request, Class<T> type, String what) {
        HttpResponse<byte[]> response;
        try {
            response = http.send(request.timeout(timeout).build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (ConnectException e) {
            throw new FusionException("cannot reach the model server at " + base + " (" + what + "): connection refused;"
                    + " start it (cool-fusion serve) or fix the 'url' option", e);
        } catch (HttpTimeoutException e) {
            throw new FusionException("the model server at " + base + " did not answer within " + timeout.toSeconds()
                    + " s (" + what + "); raise 'timeout-seconds' or check the server", e);
        } catch (IOException e) {
            throw new FusionException("talking to the model server at " + base + " failed (" + what + "): " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FusionException("interrupted while waiting for the model server at " + base, e);
        }
        if (response.statusCode() != 200) {
            String message;
            try {
                message = Wire.JSON.readValue(response.body(), Wire.Error.class).error();
            } catch (IOException e) {
                message = null;
            }
            if (message == null) {
                message = "HTTP " + response.statusCode() + ": " + new String(response.body(), java.nio.charset.StandardCharsets.UTF_8);
            }
            throw new FusionException("model server " + base + " refused " + what + ": " + message);
        }
        try {
            return Wire.JSON.readValue(response.body(), type);
        } catch (IOException e) {
            throw new FusionException("model server " + base + " sent an answer this client cannot read (" + what + "): "
                    + e.getMessage() + "; is it a cool-fusion model server of protocol " + Wire.PROTOCOL + "?", e);
        }
    }
}
