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
 * Stands in for llama.cpp's {@code llama-server}, which cannot run here: {@code GET /props}, {@code POST /tokenize}
 * ({@code content}, {@code add_special}) and {@code POST /completion} with an id prompt (no begin-of-sequence token
 * added), {@code n_predict}, {@code n_probs}, {@code return_tokens}, {@code temperature}, {@code top_p},
 * {@code seed}, answering {@code {"content", "tokens", "completion_probabilities": [{"id", "logprob", "token",
 * "bytes", "top_logprobs"}], "stop_type", "tokens_cached", "tokens_evaluated", ...}} as the server README documents.
 * The end-of-sequence token is part of {@code completion_probabilities} and {@code tokens} but not of the text.
 * Errors are {@code {"error": {"code", "message", "type"}}}.
 */
final class FakeLlamaCppServer extends FakeHttpServer {
    private List<Integer> slot = List.of();
    final AtomicInteger completionRequests = new AtomicInteger();

    FakeLlamaCppServer(SourceModel model) throws IOException {
        super(model, "application/json; charset=utf-8");
        start();
    }

    @Override
    JsonNode route(String p, JsonNode request) {
        return switch (p) {
            case "/props" -> props();
            case "/tokenize" -> tokenize(request);
            case "/completion" -> completion(request);
            default -> throw new Refused(404, "File Not Found");
        };
    }

    @Override
    JsonNode error(Refused e) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.putObject("error").put("code", e.status).put("message", e.getMessage())
                .put("type", e.status == 400 ? "invalid_request_error" : "server_error");
        return root;
    }

    @Override
    int failureStatus() {
        return 500;
    }

    private JsonNode props() {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode settings = root.putObject("default_generation_settings").put("id", 0)
                .put("n_ctx", model.maxContextTokens().orElse(4096));
        settings.putObject("params").put("n_predict", -1).put("temperature", 0.8).put("top_k", 40);
        root.put("total_slots", 1).put("model_path", "/models/demo-c.gguf").put("build_info", "b7000-fake");
        return root;
    }

    private JsonNode tokenize(JsonNode request) {
        List<Integer> ids = request.path("add_special").asBoolean(false)
                ? model.codec().encodePrompt(request.path("content").asText())
                : model.codec().encode(request.path("content").asText()).ids();
        ObjectNode root = Json.MAPPER.createObjectNode();
        ArrayNode tokens = root.putArray("tokens");
        ids.forEach(tokens::add);
        return root;
    }

    private synchronized JsonNode completion(JsonNode request) {
        completionRequests.incrementAndGet();
        JsonNode prompt = request.path("prompt");
        if (!prompt.isArray() || prompt.isEmpty() || !prompt.path(0).isIntegralNumber()) {
            throw new Refused(400, "this stand-in takes a prompt of token ids only");
        }
        List<Integer> input = new ArrayList<>();
        prompt.forEach(v -> input.add(v.asInt()));
        int nPredict = request.path("n_predict").asInt(-1);
        int nCtx = model.maxContextTokens().orElse(4096);
        if (nPredict < 1) {
            throw new Refused(400, "this stand-in needs n_predict >= 1");
        }
        if (input.size() >= nCtx) {
            throw new Refused(400, "the request exceeds the available context size, try increasing it");
        }
        double temperature = request.path("temperature").asDouble(0.8);
        double topP = request.path("top_p").asDouble(0.95);
        Random seeded = new Random(request.path("seed").asLong(0));
        int cached = 0;
        while (cached < slot.size() && cached < input.size() - 1 && slot.get(cached).equals(input.get(cached))) {
            cached++;
        }
        List<StateHandle> handles = new ArrayList<>();
        ObjectNode root = Json.MAPPER.createObjectNode().put("index", 0);
        try {
            ScoredTokens rest = prefill(input, handles);
            StateHandle at = rest.state();
            List<Integer> generated = new ArrayList<>();
            List<Double> logProbs = new ArrayList<>();
            String stop = "limit";
            while (generated.size() < nPredict && input.size() + generated.size() < nCtx) {
                TokenStep step = step(at, temperature <= 0, temperature, topP, seeded, handles);
                at = step.state();
                generated.add(step.token());
                logProbs.add(step.logProb());
                if (endOfSequence(step.token())) {
                    stop = "eos";
                    break;
                }
            }
            List<Integer> all = new ArrayList<>(input);
            all.addAll(generated);
            slot = all;
            root.put("content", model.codec().decodeContinuation(generated));
            ArrayNode tokens = root.putArray("tokens");
            if (request.path("return_tokens").asBoolean(false)) {
                generated.forEach(tokens::add);
            }
            root.put("id_slot", 0).put("stop", true).put("model", "gpt-3.5-turbo").put("tokens_predicted",
                    generated.size()).put("tokens_evaluated", input.size()).put("tokens_cached", cached)
                    .put("stop_type", stop).put("stopping_word", "").put("truncated", false);
            if (request.path("n_probs").asInt(0) > 0) {
                ArrayNode probs = root.putArray("completion_probabilities");
                for (int i = 0; i < generated.size(); i++) {
                    String piece = model.codec().decodeContinuation(List.of(generated.get(i)));
                    ObjectNode e = probs.addObject().put("id", generated.get(i)).put("token", piece)
                            .put("logprob", logProbs.get(i));
                    putBytes(e, piece);
                    e.putArray("top_logprobs").addObject().put("id", generated.get(i)).put("token", piece)
                            .put("logprob", logProbs.get(i));
                }
            }
        } finally {
            model.release(handles);
        }
        return root;
    }
}
