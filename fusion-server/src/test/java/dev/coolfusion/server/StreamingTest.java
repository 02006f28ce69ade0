package dev.coolfusion.server;

import static dev.coolfusion.server.Fixtures.KEY;
import static dev.coolfusion.server.Fixtures.QUESTION;
import static dev.coolfusion.server.Fixtures.q;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.server.Fixtures.Answer;
import dev.coolfusion.spi.SourceModel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Server-sent events as OpenAI sends them, cancellation by disconnect, and concurrency that changes no output. */
class StreamingTest {
    static FusionServer server;

    @BeforeAll
    static void start() {
        server = Fixtures.serve(b -> b.maxConcurrent(4));
    }

    @AfterAll
    static void stop() {
        server.close();
        Fixtures.assertNoLiveStates(Fixtures.bundled());
    }

    static JsonNode parse(String json) {
        return ApiErrorsTest.parse(json);
    }

    static String chatBody(String question, boolean stream) {
        return "{\"model\": " + q(server.modelName()) + ", \"messages\": [{\"role\": \"user\", \"content\": " + q(question)
                + "}]" + (stream ? ", \"stream\": true, \"stream_options\": {\"include_usage\": true}" : "") + "}";
    }

    @Test
    void aChatStreamIsOneChunkPerSegmentThenUsageThenDone() {
        Answer whole = Fixtures.post(server, "/v1/chat/completions", chatBody(QUESTION, false));
        assertEquals(200, whole.status(), whole.body());
        JsonNode answer = whole.json();
        String text = answer.at("/choices/0/message/content").asText();
        assertEquals("chat.completion", answer.path("object").asText());
        assertEquals("assistant", answer.at("/choices/0/message/role").asText());
        assertEquals("stop", answer.at("/choices/0/finish_reason").asText());
        assertTrue(answer.at("/choices/0/logprobs").isNull());
        assertTrue(answer.path("id").asText().startsWith("chatcmpl-"));
        JsonNode usage = answer.path("usage");
        assertEquals(usage.path("prompt_tokens").asInt() + usage.path("completion_tokens").asInt(),
                usage.path("total_tokens").asInt());
        StringBuilder fromSegments = new StringBuilder();
        for (JsonNode seg : answer.at("/cool_fusion/segments")) {
            fromSegments.append(seg.path("text").asText());
            assertTrue(List.of("A", "B", "C").contains(seg.path("winner").asText()), seg.toString());
            assertTrue(seg.path("proposers").size() >= 1, seg.toString());
            assertEquals(3, seg.path("scores").size(), "every model scored the winner: " + seg);
            boolean won = false;
            for (JsonNode c : seg.path("candidates")) {
                won |= c.path("won").asBoolean();
                assertEquals(3, c.path("scores").size(), c.toString());
            }
            assertTrue(won, seg.toString());
        }
        assertEquals(text, fromSegments.toString());
        assertEquals(3, answer.at("/cool_fusion/prompt_tokens").size());

        Answer streamed = Fixtures.post(server, "/v1/chat/completions", chatBody(QUESTION, true));
        assertEquals(200, streamed.status());
        assertTrue(streamed.header("Content-Type").startsWith("text/event-stream"), streamed.header("Content-Type"));
        List<String> events = streamed.events();
        assertEquals("[DONE]", events.get(events.size() - 1));
        JsonNode usageChunk = parse(events.get(events.size() - 2));
        assertEquals(0, usageChunk.path("choices").size(), "the usage chunk has no choices");
        assertEquals(usage, usageChunk.path("usage"));
        List<JsonNode> chunks = new ArrayList<>();
        for (String e : events.subList(0, events.size() - 2)) {
            chunks.add(parse(e));
        }
        assertEquals(answer.at("/cool_fusion/segments").size(), chunks.size(), "one chunk per segment");
        StringBuilder streamedText = new StringBuilder();
        for (int i = 0; i < chunks.size(); i++) {
            JsonNode chunk = chunks.get(i);
            assertEquals("chat.completion.chunk", chunk.path("object").asText());
            assertEquals(server.modelName(), chunk.path("model").asText());
            JsonNode choice = chunk.at("/choices/0");
            assertEquals(i == 0, choice.at("/delta/role").asText().equals("assistant"), chunk.toString());
            String content = choice.at("/delta/content").asText();
            JsonNode segments = chunk.at("/cool_fusion/segments");
            assertEquals(1, segments.size(), chunk.toString());
            assertEquals(content, segments.get(0).path("text").asText());
            assertEquals(answer.at("/cool_fusion/segments").get(i).path("winner"), segments.get(0).path("winner"));
            assertTrue(chunk.has("usage") && chunk.path("usage").isNull(), "usage: null until the end: " + chunk);
            boolean last = i == chunks.size() - 1;
            assertEquals(last ? "stop" : null, choice.path("finish_reason").isNull() ? null
                    : choice.path("finish_reason").asText(), chunk.toString());
            streamedText.append(content);
        }
        assertEquals(text, streamedText.toString());
    }

    @Test
    void completionsGiveOneChoicePerPromptAndEcho() {
        CoolFusion fusion = Fixtures.bundled().fusion();
        List<String> prompts = List.of(QUESTION, "Question: Eli has 15 candies. He buys 22 more. How many candies does"
                + " he have now?\nAnswer:");
        Answer a = Fixtures.post(server, "/v1/completions", "{\"prompt\": [" + q(prompts.get(0)) + ", "
                + q(prompts.get(1)) + "], \"max_tokens\": 40}");
        assertEquals(200, a.status(), a.body());
        JsonNode body = a.json();
        assertEquals("text_completion", body.path("object").asText());
        assertEquals(2, body.path("choices").size());
        int completionTokens = 0;
        for (int i = 0; i < 2; i++) {
            var g = fusion.generate(prompts.get(i), Fixtures.bundled().options().toBuilder().maxNewTokens(40).build());
            assertEquals(i, body.at("/choices/" + i + "/index").asInt());
            assertEquals(g.text(), body.at("/choices/" + i + "/text").asText(), "as CoolFusion.generate gives it");
            completionTokens += g.outputTokens();
            StringBuilder segs = new StringBuilder();
            for (JsonNode s : body.at("/cool_fusion/segments")) {
                if (s.path("index").asInt() == i) {
                    segs.append(s.path("text").asText());
                }
            }
            assertEquals(g.text(), segs.toString());
        }
        assertEquals(completionTokens, body.at("/usage/completion_tokens").asInt());

        Answer echoOnly = Fixtures.post(server, "/v1/completions", "{\"prompt\": " + q(prompts.get(0))
                + ", \"echo\": true, \"max_tokens\": 0}");
        assertEquals(200, echoOnly.status(), echoOnly.body());
        assertEquals(prompts.get(0), echoOnly.json().at("/choices/0/text").asText());
        assertEquals("length", echoOnly.json().at("/choices/0/finish_reason").asText());
        assertEquals(0, echoOnly.json().at("/usage/completion_tokens").asInt());
        assertTrue(echoOnly.json().at("/usage/prompt_tokens").asInt() > 10);

        Answer echoed = Fixtures.post(server, "/v1/completions", "{\"prompt\": " + q(prompts.get(0))
                + ", \"echo\": true, \"max_tokens\": 40, \"stream\": true}");
        StringBuilder text = new StringBuilder();
        List<String> events = echoed.events();
        assertEquals("[DONE]", events.get(events.size() - 1));
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode chunk = parse(e);
            assertEquals("text_completion", chunk.path("object").asText());
            text.append(chunk.at("/choices/0/text").asText());
        }
        assertEquals(prompts.get(0) + body.at("/choices/0/text").asText(), text.toString());
        assertEquals(body.at("/choices/0/finish_reason").asText(), parse(events.get(events.size() - 2))
                .at("/choices/0/finish_reason").asText(), "the last chunk finishes: " + events.get(events.size() - 2));
    }

    @Test
    void concurrentRequestsGiveWhatSequentialOnesGive() throws Exception {
        List<String> questions = List.of(
                "Question: Eli has 15 candies. He buys 22 more. How many candies does he have now?\nAnswer:",
                "Question: Ravi packs 108 beads into jars of 12. How many jars does he fill?\nAnswer:",
                "Question: Kate has 12 stickers. She buys 7 boxes with 3 stickers in each. How many stickers does she"
                        + " have now?\nAnswer:",
                "Question: Mia has 17 apples. She buys 11 more. How many apples does she have now?\nAnswer:");
        List<String> sequential = new ArrayList<>();
        for (String question : questions) {
            sequential.add(Fixtures.post(server, "/v1/chat/completions", chatBody(question, false)).json()
                    .at("/choices/0/message/content").asText());
        }
        List<CompletableFuture<String>> concurrent = new ArrayList<>();
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < questions.size(); i++) {
                String question = questions.get(i);
                boolean stream = (i + round) % 2 == 0;
                concurrent.add(CompletableFuture.supplyAsync(() -> {
                    Answer a = Fixtures.post(server, "/v1/chat/completions", chatBody(question, stream));
                    if (!stream) {
                        return a.json().at("/choices/0/message/content").asText();
                    }
                    StringBuilder s = new StringBuilder();
                    for (String e : a.events()) {
                        if (!e.equals("[DONE]")) {
                            s.append(parse(e).at("/choices/0/delta/content").asText());
                        }
                    }
                    return s.toString();
                }));
            }
        }
        for (int i = 0; i < concurrent.size(); i++) {
            assertEquals(sequential.get(i % questions.size()), concurrent.get(i).get(3, TimeUnit.MINUTES),
                    "request " + i);
        }
        assertEquals(0, server.stats().running());
    }

    @Test
    void aClientThatDisconnectsMidStreamCancelsItsGeneration() throws Exception {
        ConfiguredFusion bundled = Fixtures.bundled();
        List<SourceModel> sources = new ArrayList<>(bundled.sources());
        ControlledSource slow = new ControlledSource(sources.get(0));
        slow.delayMillis = 25;
        sources.set(0, slow);
        ConfiguredFusion paced = ConfiguredFusion.of(CoolFusion.builder().sources(sources).metric(bundled.metric())
                .build(), bundled.options());
        try (FusionServer s = Fixtures.serve(paced, b -> {})) {
            String body = "{\"messages\": [{\"role\": \"user\", \"content\": " + q(QUESTION) + "}], \"stream\": true,"
                    + " \"max_tokens\": 300, \"stop\": []}";
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            long stepsAtClose;
            try (Socket socket = new Socket(s.uri().getHost(), s.uri().getPort())) {
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + KEY
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.write(bytes);
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                        StandardCharsets.UTF_8));
                String status = in.readLine();
                assertTrue(status.contains(" 200 "), status);
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.startsWith("data: ")) {
                        break;
                    }
                }
                assertTrue(s.stats().running() == 1, "still generating when the client leaves");
                stepsAtClose = s.stats().steps();
            }
            long deadline = System.nanoTime() + 60_000_000_000L;
            while ((s.stats().cancelled() < 1 || s.stats().running() > 0) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(1, s.stats().cancelled(), "cancelled: " + s.stats());
            assertEquals(0, s.stats().running());
            assertTrue(s.stats().steps() - stepsAtClose <= 3, "ended within a few segments of the disconnect: "
                    + stepsAtClose + " -> " + s.stats().steps());
            Fixtures.assertNoLiveStates(bundled);
            slow.delayMillis = 0;
            // the server goes on serving
            Answer after = Fixtures.post(s, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": "
                    + q(QUESTION) + "}]}");
            assertEquals(200, after.status(), after.body());
            assertFalse(after.json().at("/choices/0/message/content").asText().isEmpty());
        }
    }
}
