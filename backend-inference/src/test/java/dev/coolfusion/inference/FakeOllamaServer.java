package dev.coolfusion.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Stands in for an Ollama server (0.12.11 or later), which cannot run here: {@code GET /api/tags} and
 * {@code POST /api/generate} with {@code raw: true, stream: false}, the prompt as text (tokenized here as Ollama does in
 * raw mode: the model's begin-of-sequence token, then the text with special tokens recognised), {@code options}
 * ({@code num_predict}, {@code num_ctx}, {@code temperature}, {@code top_p}, {@code seed}), and {@code logprobs}:
 * answers {@code {"model", "created_at", "response", "done": true, "done_reason", "prompt_eval_count", "eval_count",
 * "logprobs": [{"token", "logprob", "bytes", "top_logprobs"}]}}. An end-of-sequence token ends the text and is not part
 * of it ({@code done_reason: "stop"}). A prompt past {@code num_ctx} is an error here (real Ollama truncates it).
 * Errors are {@code {"error": "..."}}.
 */
final class FakeOllamaServer extends FakeHttpServer {
    private final String tag;
    final AtomicInteger generateRequests = new AtomicInteger();
    final List<String> prompts = new ArrayList<>();

    FakeOllamaServer(SourceModel model, String tag) throws IOException {
        super(model, "application/json; charset=utf-8");
        this.tag = tag;
        start();
    }

    @Override
    JsonNode route(String p, JsonNode request) {
        return switch (p) {
            case "/api/tags" -> tags();
            case "/api/version" -> Json.MAPPER.createObjectNode().put("version", "0.12.11");
            case "/api/generate" -> generate(request);
            default -> throw new Refused(404, "404 page not found");
        };
    }

    @Override
    JsonNode error(Refused e) {
        return Json.MAPPER.createObjectNode().put("error", e.getMessage());
    }

    @Override
    int failureStatus() {
        return 500;
    }

    private JsonNode tags() {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.putArray("models").addObject().put("name", tag).put("model", tag).put("size", 4_000_000)
                .put("digest", "0".repeat(64)).putObject("details").put("format", "gguf").put("family", "llama");
        return root;
    }

    private synchronized JsonNode generate(JsonNode request) {
        String name = request.path("model").asText();
        if (!name.equals(tag) && !(name + ":latest").equals(tag)) {
            throw new Refused(404, "model '" + name + "' not found");
        }
        if (!request.path("raw").asBoolean(false) || request.path("stream").asBoolean(true)) {
            throw new Refused(400, "this stand-in answers raw, non-streaming requests only");
        }
        generateRequests.incrementAndGet();
        String prompt = request.path("prompt").asText();
        prompts.add(prompt);
        JsonNode options = request.path("options");
        int numPredict = options.path("num_predict").asInt(-1);
        int numCtx = options.path("num_ctx").asInt(4096);
        if (numPredict < 1) {
            throw new Refused(400, "this stand-in needs options.num_predict >= 1");
        }
        double temperature = options.path("temperature").asDouble(0.8);
        double topP = options.path("top_p").asDouble(0.9);
        Random seeded = new Random(options.path("seed").asLong(0));
        List<Integer> input = model.codec().encodePrompt(prompt);
        if (input.size() + numPredict > numCtx) {
            throw new Refused(400, "prompt of " + input.size() + " tokens and num_predict " + numPredict
                    + " exceed num_ctx " + numCtx);
        }
        List<StateHandle> handles = new ArrayList<>();
        ObjectNode root = Json.MAPPER.createObjectNode().put("model", name).put("created_at", "2025-11-20T00:00:00Z");
        try {
            ScoredTokens rest = prefill(input, handles);
            StateHandle at = rest.state();
            List<Integer> generated = new ArrayList<>();
            List<Double> logProbs = new ArrayList<>();
            String reason = "length";
            for (int i = 0; i < numPredict; i++) {
                TokenStep step = step(at, temperature == 0, temperature, topP, seeded, handles);
                at = step.state();
                if (endOfSequence(step.token())) {
                    reason = "stop";
                    break;
                }
                generated.add(step.token());
                logProbs.add(step.logProb());
            }
            root.put("response", model.codec().decodeContinuation(generated)).put("done", true).put("done_reason", reason)
                    .put("prompt_eval_count", input.size()).put("eval_count", generated.size());
            if (request.path("logprobs").asBoolean(false)) {
                ArrayNode entries = root.putArray("logprobs");
                for (int i = 0; i < generated.size(); i++) {
                    String piece = model.codec().decodeContinuation(List.of(generated.get(i)));
                    ObjectNode e = entries.addObject().put("token", piece).put("logprob", logProbs.get(i));
                    putBytes(e, piece);
                    e.putArray("top_logprobs");
                }
            }
        } finally {
            model.release(handles);
        }
        return root;
    }
}
