package dev.coolfusion.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.coolfusion.langchain4j.CoolFusionChatModel;
import dev.coolfusion.langchain4j.WholeAnswerRerank;
import dev.coolfusion.spi.SourceModel;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.ollama.OllamaChatModel;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Ollama rerank sample with the real {@link OllamaChatModel} client. The only stand-in is the Ollama server
 * process: a local HTTP server on 127.0.0.1 that answers {@code POST /api/chat} in Ollama's documented
 * non-streaming format.
 */
class OllamaRerankSampleTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void ollamaProposesTheFusedSourcesScoreAndTheLowestPerplexityWins() throws Exception {
        List<JsonNode> received = new CopyOnWriteArrayList<>();
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/api/chat", exchange -> {
            received.add(JSON.readTree(exchange.getRequestBody().readAllBytes()));
            byte[] body = ("{\"model\": \"llama3.2\", \"created_at\": \"2024-07-05T14:03:09.416799Z\","
                    + " \"message\": {\"role\": \"assistant\", \"content\": \"t5 t6 t7\"},"
                    + " \"done_reason\": \"stop\", \"done\": true, \"total_duration\": 5191566416, \"load_duration\": 2154458,"
                    + " \"prompt_eval_count\": 26, \"prompt_eval_duration\": 383809000, \"eval_count\": 3,"
                    + " \"eval_duration\": 4799921000}").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        });
        server.start();
        try (CoolFusionChatModel fused = CoolFusionChatModel.builder().config(SampleModels.config(tmp, 5)).build()) {
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            WholeAnswerRerank rerank = OllamaRerankSample.rerank(fused, OllamaRerankSample.ollama(url, "llama3.2"),
                    "ollama:llama3.2");
            WholeAnswerRerank.Result result = rerank.rerank(ChatRequest.builder()
                    .messages(UserMessage.from("What is 17 + 25?")).build());

            assertEquals("avg-ppl", rerank.metric().name(), "the fusion's metric");
            assertEquals(1, received.size());
            JsonNode request = received.get(0);
            assertEquals("llama3.2", request.path("model").asText());
            assertEquals("What is 17 + 25?", request.path("messages").get(0).path("content").asText());

            assertEquals(List.of("fused", "ollama:llama3.2"),
                    result.candidates().stream().map(WholeAnswerRerank.Candidate::proposer).toList());
            assertEquals("t5 t6 t7", result.candidates().get(1).answer());
            for (WholeAnswerRerank.Candidate c : result.candidates()) {
                assertEquals(List.of("llama", "qwen2"), List.copyOf(c.modelScores().keySet()));
                assertTrue(c.modelScores().values().stream().allMatch(p -> p > 1 && Double.isFinite(p)), c.toString());
            }
            double best = Math.min(result.candidates().get(0).score(), result.candidates().get(1).score());
            WholeAnswerRerank.Candidate winner = result.candidates().stream()
                    .filter(c -> c.proposer().equals(result.winner())).findFirst().orElseThrow();
            assertEquals(best, winner.score());
            for (SourceModel source : fused.fusion().fusion().sources()) {
                assertEquals(0, ((dev.coolfusion.djl.model.DjlSourceModel) source).liveStates());
            }
        } finally {
            server.stop(0);
        }
    }
}
