package dev.coolfusion.inference;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModelProvider;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A URL that points at some other web server, or a server that fails: the error names the server kind, the call and
 * the option to fix instead of pasting a page.
 */
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
            return assertThrows(FusionException.class, () -> http.get("/v1/models", JsonNode.class, "listing models"))
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

    @Test
    void everyProviderPointedAtAWebPageSaysWhatItExpected() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            byte[] bytes = "<html><body>It works!</body></html>".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/html");
            exchange.sendResponseHeaders(404, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            String tokenizer = TestModels.bundledDir("a").toString();
            Map<SourceModelProvider, String> kinds = Map.of(new VllmSourceModelProvider(), "vLLM server",
                    new SglangSourceModelProvider(), "SGLang server", new OllamaSourceModelProvider(), "Ollama server",
                    new LlamaCppSourceModelProvider(), "llama.cpp server");
            kinds.forEach((provider, kind) -> {
                String message = assertThrows(FusionException.class, () -> provider.create(ProviderConfig.of(
                        provider.name(), Map.of("url", url, "tokenizer", tokenizer, "model", "m")))).getMessage();
                assertTrue(message.contains(kind) && message.contains("HTML page") && message.contains("'url' option")
                        && message.contains(url), provider.name() + ": " + message);
            });
        } finally {
            server.stop(0);
        }
    }
}
