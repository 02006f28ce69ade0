package dev.coolfusion.server;

import static dev.coolfusion.server.Fixtures.KEY;
import static dev.coolfusion.server.Fixtures.QUESTION;
import static dev.coolfusion.server.Fixtures.q;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.SourceFailurePolicy;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.server.Fixtures.Answer;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.spi.SourceModel;
import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every refusal: its status, OpenAI-shaped body, the field it names and a message that says what to do. */
class ApiErrorsTest {
    static FusionServer server;

    @BeforeAll
    static void start() {
        server = Fixtures.serve(b -> b.limits(ServerLimits.DEFAULTS.withMaxBodyBytes(64 << 10).withMaxTokensPerRequest(1000)));
    }

    @AfterAll
    static void stop() {
        server.close();
        Fixtures.assertNoLiveStates(Fixtures.bundled());
    }

    static final String USER = "\"messages\": [{\"role\": \"user\", \"content\": " + q(QUESTION) + "}]";

    /** Asserts the status and the OpenAI error body; returns the error object. */
    static JsonNode assertError(Answer a, int status, String type, String param, String... inMessage) {
        assertEquals(status, a.status(), a.body());
        assertTrue(a.header("Content-Type").startsWith("application/json"), a.header("Content-Type"));
        JsonNode error = a.json().path("error");
        assertTrue(error.isObject(), a.body());
        assertEquals(type, error.path("type").asText(), a.body());
        assertEquals(status, error.path("code").asInt(), a.body());
        if (param == null) {
            assertTrue(error.path("param").isNull(), a.body());
        } else {
            assertEquals(param, error.path("param").asText(), a.body());
        }
        for (String part : inMessage) {
            assertTrue(error.path("message").asText().contains(part), "'" + part + "' missing from " + a.body());
        }
        return error;
    }

    static Answer chat(String fields) {
        return Fixtures.post(server, "/v1/chat/completions", "{" + USER + (fields.isEmpty() ? "" : ", " + fields) + "}");
    }

    @Test
    void unsupportedChatFieldsAre400sNamingTheField() {
        assertError(chat("\"n\": 2"), 400, "BadRequestError", "n", "'n' must be 1");
        assertError(chat("\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]"), 400,
                "BadRequestError", "tools", "tool calling");
        assertError(chat("\"tool_choice\": \"required\""), 400, "BadRequestError", "tool_choice", "no tools");
        assertError(chat("\"response_format\": {\"type\": \"json_object\"}"), 400, "BadRequestError",
                "response_format", "'json_object'", "plain text only");
        assertError(chat("\"logprobs\": true"), 400, "BadRequestError", "logprobs", "'logprobs' is not supported");
        assertError(chat("\"top_logprobs\": 3"), 400, "BadRequestError", "top_logprobs");
        assertError(chat("\"presence_penalty\": 0.5"), 400, "BadRequestError", "presence_penalty", "no penalties");
        assertError(chat("\"top_k\": 5"), 400, "BadRequestError", "top_k");
        assertError(chat("\"logit_bias\": {\"50\": 2}"), 400, "BadRequestError", "logit_bias");
        // neutral values are no request for anything: accepted
        assertEquals(200, chat("\"n\": 1, \"presence_penalty\": 0, \"tools\": [], \"response_format\": {\"type\":"
                + " \"text\"}, \"logprobs\": false, \"top_k\": -1, \"user\": \"u-1\", \"max_tokens\": 2").status());
    }

    @Test
    void malformedChatFieldsAre400sNamingTheField() {
        assertError(Fixtures.post(server, "/v1/chat/completions", "{}"), 400, "BadRequestError", "messages",
                "'messages' is required");
        assertError(Fixtures.post(server, "/v1/chat/completions", "{\"messages\": []}"), 400, "BadRequestError",
                "messages", "non-empty");
        assertError(Fixtures.post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"tool\", \"content\":"
                + " \"4\"}]}"), 400, "BadRequestError", "messages[0].role", "no tools");
        assertError(Fixtures.post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\":"
                + " [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}"), 400, "BadRequestError",
                "messages[0].content[0].type", "'image_url'", "text only");
        assertError(Fixtures.post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"wizard\", \"content\":"
                + " \"hi\"}]}"), 400, "BadRequestError", "messages[0].role", "'wizard'");
        assertError(chat("\"temperature\": \"hot\""), 400, "BadRequestError", "temperature", "must be a number");
        assertError(chat("\"temperature\": -1"), 400, "BadRequestError", "temperature", ">= 0");
        assertError(chat("\"top_p\": 0"), 400, "BadRequestError", "top_p", "(0, 1]");
        assertError(chat("\"max_tokens\": 0"), 400, "BadRequestError", "max_tokens", "at least 1");
        assertError(chat("\"max_completion_tokens\": 2.5"), 400, "BadRequestError", "max_completion_tokens",
                "integer");
        assertError(chat("\"stop\": [\"\"]"), 400, "BadRequestError", "stop", "must not be empty");
        assertError(chat("\"stop\": 5"), 400, "BadRequestError", "stop", "string or a list of strings");
        assertError(chat("\"seed\": \"x\""), 400, "BadRequestError", "seed", "integer");
        assertError(chat("\"stream_options\": {\"include_usage\": true}"), 400, "BadRequestError", "stream_options",
                "\"stream\": true");
        assertError(chat("\"stream\": \"yes\""), 400, "BadRequestError", "stream", "true or false");
        assertError(Fixtures.post(server, "/v1/chat/completions", "{\"messages\": "), 400, "BadRequestError", null,
                "not valid JSON");
        assertError(Fixtures.post(server, "/v1/chat/completions", "[1, 2]"), 400, "BadRequestError", null,
                "JSON object");
    }

    @Test
    void completionFieldsAreCheckedToo() {
        String path = "/v1/completions";
        assertError(Fixtures.post(server, path, "{\"prompt\": \"2 + 2 =\", \"logprobs\": 1}"), 400, "BadRequestError",
                "logprobs", "'logprobs' is not supported");
        assertError(Fixtures.post(server, path, "{\"prompt\": [1, 2, 3]}"), 400, "BadRequestError", "prompt",
                "token-id prompts are not supported", "different tokenizers");
        assertError(Fixtures.post(server, path, "{}"), 400, "BadRequestError", "prompt", "'prompt' is required");
        assertError(Fixtures.post(server, path, "{\"prompt\": \"x\", \"max_tokens\": 0}"), 400, "BadRequestError",
                "max_tokens", "only for echo");
        assertError(Fixtures.post(server, path, "{\"prompt\": \"x\", \"best_of\": 3}"), 400, "BadRequestError",
                "best_of");
        assertError(Fixtures.post(server, path, "{\"prompt\": \"x\", \"suffix\": \"y\"}"), 400, "BadRequestError",
                "suffix");
        assertError(Fixtures.post(server, path, "{\"prompt\": \"x\", \"n\": 2}"), 400, "BadRequestError", "n");
    }

    @Test
    void aPromptPastASourcesContextIsA400NamingTheSource() {
        String longPrompt = "Question: one two three four five six seven eight nine ten. ".repeat(40);
        Answer chat = Fixtures.post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": "
                + q(longPrompt.substring(0, 1200)) + "}]}");
        assertError(chat, 400, "BadRequestError", "messages", "tokens for source '", "max context of 512 tokens",
                "shorten the prompt");
        Answer completion = Fixtures.post(server, "/v1/completions", "{\"prompt\": " + q(longPrompt.substring(0, 1200))
                + "}");
        assertError(completion, 400, "BadRequestError", "prompt", "max context of 512 tokens");
    }

    @Test
    void overTheServerLimitsIs413() {
        String big = "x".repeat(70 << 10);
        assertError(Fixtures.post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": "
                + q(big) + "}]}"), 413, "RequestTooLargeError", null, "request body has", "65536 bytes per request body",
                "--max-body-bytes");
        // without a Content-Length (chunked): refused as it passes the limit
        HttpRequest chunked = HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
                .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(
                        ("{\"prompt\": " + q(big) + "}").getBytes(java.nio.charset.StandardCharsets.UTF_8))))
                .build();
        assertError(Fixtures.send(chunked), 413, "RequestTooLargeError", null, "more than 65536 bytes");
        String longPrompt = "Question: one two three four five six seven eight nine ten. ".repeat(40);
        assertError(Fixtures.post(server, "/v1/completions", "{\"prompt\": " + q(longPrompt) + "}"), 413,
                "RequestTooLargeError", "prompt", "tokens for source", "limit of 1000 tokens per request",
                "--max-tokens-per-request");
        assertError(chat("\"max_tokens\": 5000"), 413, "RequestTooLargeError", "max_tokens",
                "max_tokens asks for 5000 new tokens");
    }

    @Test
    void apiKeysAreRequiredOnV1Only() {
        assertError(Fixtures.get(server, "/v1/models", null), 401, "AuthenticationError", null, "missing API key",
                "Authorization: Bearer");
        Answer wrong = Fixtures.post(server, "/v1/chat/completions", "{" + USER + "}", "sk-wrong");
        assertError(wrong, 401, "AuthenticationError", null, "wrong API key");
        assertEquals("Bearer", wrong.header("WWW-Authenticate"));
        assertError(Fixtures.post(server, "/v1/completions", "{\"prompt\": \"x\"}", KEY + "x"), 401,
                "AuthenticationError", null, "wrong API key");
        assertEquals(200, Fixtures.get(server, "/health", null).status());
        assertEquals(200, Fixtures.get(server, "/", null).status());
        assertEquals(200, Fixtures.get(server, "/v1/models", KEY).status());
    }

    @Test
    void unknownModelsAndPathsAre404s() {
        assertError(chat("\"model\": \"gpt-4o\""), 404, "NotFoundError", "model", "The model `gpt-4o` does not exist",
                server.modelName());
        assertError(Fixtures.post(server, "/v1/completions", "{\"model\": \"llama\", \"prompt\": \"x\"}"), 404,
                "NotFoundError", "model", "`llama`");
        assertError(Fixtures.get(server, "/v1/models/gpt-4o", KEY), 404, "NotFoundError", "model", "`gpt-4o`");
        assertError(Fixtures.post(server, "/v1/embeddings", "{\"input\": \"x\"}"), 404, "NotFoundError", null,
                "no such path: POST /v1/embeddings", "POST /v1/chat/completions");
        assertError(Fixtures.get(server, "/nothing/here", null), 404, "NotFoundError", null, "no such path");
        assertError(Fixtures.get(server, "/v1/chat/completions", KEY), 405, "MethodNotAllowedError", null, "GET");
    }

    @Test
    void aFullQueueIs429WithRetryAfter() throws Exception {
        ConfiguredFusion bundled = Fixtures.bundled();
        List<SourceModel> sources = new ArrayList<>(bundled.sources());
        ControlledSource b = new ControlledSource(sources.get(1));
        sources.set(1, b);
        ConfiguredFusion controlled = ConfiguredFusion.of(CoolFusion.builder().sources(sources).metric(bundled.metric())
                .build(), bundled.options());
        try (FusionServer small = Fixtures.serve(controlled, s -> s.maxConcurrent(1).maxQueued(1))) {
            b.hold();
            CompletableFuture<Answer> first = CompletableFuture.supplyAsync(() -> Fixtures.post(small,
                    "/v1/chat/completions", "{" + USER + "}"));
            assertTrue(b.reached.tryAcquire(60, TimeUnit.SECONDS), "the first generation started");
            CompletableFuture<Answer> second = CompletableFuture.supplyAsync(() -> Fixtures.post(small,
                    "/v1/chat/completions", "{" + USER + "}"));
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (small.stats().queued() < 1 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(1, small.stats().running());
            assertEquals(1, small.stats().queued());
            Answer third = Fixtures.post(small, "/v1/chat/completions", "{" + USER + "}");
            assertError(third, 429, "RateLimitError", null, "the server is busy", "1 generation running and 1 waiting",
                    "--max-concurrent", "--max-queue");
            assertNotNull(third.header("Retry-After"));
            assertTrue(Long.parseLong(third.header("Retry-After")) >= 1, third.header("Retry-After"));
            b.open();
            Answer one = first.get(2, TimeUnit.MINUTES);
            Answer two = second.get(2, TimeUnit.MINUTES);
            assertEquals(200, one.status(), one.body());
            assertEquals(200, two.status(), two.body());
            assertEquals(one.json().at("/choices/0/message/content"), two.json().at("/choices/0/message/content"));
            assertEquals(1, small.stats().busy());
        } finally {
            b.open();
        }
        Fixtures.assertNoLiveStates(bundled);
    }

    @Test
    void aFailingSourceIsA500NamingIt() {
        ConfiguredFusion bundled = Fixtures.bundled();
        List<SourceModel> sources = new ArrayList<>(bundled.sources());
        ControlledSource b = new ControlledSource(sources.get(1));
        b.fail = true;
        sources.set(1, b);
        ConfiguredFusion failing = ConfiguredFusion.of(CoolFusion.builder().sources(sources).metric(bundled.metric())
                .build(), bundled.options());
        try (FusionServer broken = Fixtures.serve(failing, s -> {})) {
            assertError(Fixtures.post(broken, "/v1/chat/completions", "{" + USER + "}"), 500, "InternalServerError",
                    null, "source 'B' failed", "the GPU fell off the bus");
            Answer stream = Fixtures.post(broken, "/v1/completions", "{\"prompt\": \"2 + 2 =\", \"stream\": true}");
            assertError(stream, 500, "InternalServerError", null, "source 'B' failed");
            assertEquals(2, broken.stats().failed());
        }
        Fixtures.assertNoLiveStates(bundled);
    }

    @Test
    void withOnSourceFailureDropAFailingSourceIsLeftOutAndTheTraceSaysSo() {
        ConfiguredFusion bundled = Fixtures.bundled();
        List<SourceModel> sources = new ArrayList<>(bundled.sources());
        ControlledSource b = new ControlledSource(sources.get(1));
        b.fail = true;
        sources.set(1, b);
        ConfiguredFusion dropping = ConfiguredFusion.of(CoolFusion.builder().sources(sources).metric(bundled.metric())
                .build(), bundled.options().toBuilder().onSourceFailure(SourceFailurePolicy.DROP).build());
        try (FusionServer server = Fixtures.serve(dropping, s -> {})) {
            Answer answer = Fixtures.post(server, "/v1/chat/completions", "{" + USER + "}");
            assertEquals(200, answer.status(), answer.body());
            JsonNode dropped = answer.json().at("/cool_fusion/dropped");
            assertEquals(1, dropped.size(), answer.body());
            assertEquals("B", dropped.at("/0/source").asText());
            assertEquals(0, dropped.at("/0/step").asInt());
            assertEquals("segment generation (T1)", dropped.at("/0/phase").asText());
            assertEquals("simulated failure: the GPU fell off the bus", dropped.at("/0/reason").asText());
            assertTrue(dropped.at("/0/release_error").isNull());
            for (JsonNode segment : answer.json().at("/cool_fusion/segments")) {
                assertNotEquals("B", segment.path("winner").asText(), segment.toString());
            }
            Answer completion = Fixtures.post(server, "/v1/completions", "{\"prompt\": \"2 + 2 =\", \"max_tokens\": 4}");
            assertEquals(200, completion.status(), completion.body());
            assertEquals("B", completion.json().at("/cool_fusion/dropped/0/source").asText());
            assertEquals(0, completion.json().at("/cool_fusion/dropped/0/index").asInt());
        }
        Fixtures.assertNoLiveStates(bundled);
    }

    @Test
    void pastTheTimeLimitIs504AndFreesTheStates() {
        try (FusionServer hasty = Fixtures.serve(s -> s.requestTimeout(Duration.ofMillis(1)))) {
            assertError(Fixtures.post(hasty, "/v1/chat/completions", "{" + USER + ", \"max_tokens\": 80, \"stop\": []}"),
                    504, "TimeoutError", null, "time limit", "--request-timeout");
            assertEquals(1, hasty.stats().timedOut());
            Answer streamed = Fixtures.post(hasty, "/v1/chat/completions", "{" + USER + ", \"stream\": true}");
            assertEquals(200, streamed.status());
            List<String> events = streamed.events();
            assertEquals("[DONE]", events.get(events.size() - 1));
            JsonNode error = Fixtures.JSON.valueToTree(parse(events.get(events.size() - 2))).path("error");
            assertEquals(504, error.path("code").asInt(), streamed.body());
            assertEquals(2, hasty.stats().timedOut());
        }
        Fixtures.assertNoLiveStates(Fixtures.bundled());
    }

    static JsonNode parse(String json) {
        try {
            return Fixtures.JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Keeps java.net.URI imported for readers who build requests by hand. */
    static URI base() {
        return server.uri();
    }
}
