package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.coolfusion.spi.FusionException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** A URL that points at some other web server: the error says so instead of pasting its page. */
class ForeignServerErrorTest {

    private static String errorFrom(String contentType, String body) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", contentType);
            exchange.sendResponseHeaders(404, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        try {
            URI base = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
            JsonHttp http = new JsonHttp(base, Duration.ofSeconds(5), Optional.empty(), "vLLM server", "start one");
            return assertThrows(FusionException.class, () -> http.get("/v1/models", com.fasterxml.jackson.databind.JsonNode.class, "listing models"))
                    .getMessage();
        } finally {
            server.stop(0);
        }
    }

    @Test
    void anHtmlPageIsDescribedNotPasted() throws Exception {
        String page = "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>" + "x".repeat(5000)
                + "</body></html>";
        String message = errorFrom("text/html; charset=utf-8", page);
        assertFalse(message.contains("<html") || message.contains("xxxx"), message);
        assertTrue(message.contains("HTTP 404 with an HTML page") && message.contains("'url' option")
                && message.contains("vLLM server"), message);
    }

    @Test
    void aLongPlainBodyIsCut() throws Exception {
        String message = errorFrom("text/plain", "no such route " + "y".repeat(1000));
        assertTrue(message.contains("HTTP 404: no such route"), message);
        assertTrue(message.length() < JsonHttp.QUOTED_BODY_CHARS + 200, message);
        assertTrue(message.contains("(1014 characters)"), message);
    }
}
