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
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Stands in for a vLLM OpenAI-compatible server, which cannot run here: it answers {@code GET /v1/models},
 * {@code POST /tokenize} and {@code POST /v1/completions} (token-id prompts, single or batched, {@code max_tokens} generating until it or an end-of-sequence token,
 * {@code temperature}, {@code top_p}, {@code seed}, {@code logprobs}, {@code echo}, {@code return_tokens_as_token_ids})
 * in the formats vLLM documents, with the numbers computed by a real model behind the SPI. Errors use vLLM's
 * {@code {"object": "error", "message", "type", "param", "code"}} body.
 */
final class FakeVllmServer implements AutoCloseable {
    private final SourceModel model;
    private final String id;
    private final HttpServer http;
    /** Completion requests: all, those that generate (no echo) and those that score (echo). */
    final AtomicInteger completions = new AtomicInteger();
    final AtomicInteger generations = new AtomicInteger();
    final AtomicInteger scorings = new AtomicInteger();

    FakeVllmServer(SourceModel model, String id) throws IOException {
        this.model = model;
        this.id = id;
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        http.createContext("/", this::handle);
        http.start();
    }

    URI uri() {
        return URI.create("http://127.0.0.1:" + http.getAddress().getPort());
    }

    @Override
    public void close() {
        http.stop(0);
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            int status = 200;
            JsonNode body;
            try {
                String path = exchange.getRequestURI().getPath();
                JsonNode request = exchange.getRequestMethod().equals("POST")
                        ? Json.MAPPER.readTree(exchange.getRequestBody().readAllBytes()) : null;
                if (request != null && request.has("model") && !request.path("model").asText().equals(id)) {
                    throw new Refused(404, "NotFoundError", "The model `" + request.path("model").asText() + "` does not exist.");
                }
                body = switch (path) {
                    case "/v1/models" -> models();
                    case "/tokenize" -> tokenize(request);
                    case "/v1/completions" -> completions(request);
                    default -> throw new Refused(404, "NotFoundError", "Not Found");
                };
            } catch (Refused e) {
                status = e.status;
                body = Json.MAPPER.createObjectNode().put("object", "error").put("message", e.getMessage())
                        .put("type", e.type).putNull("param").put("code", e.status);
            } catch (RuntimeException e) {
                status = 400;
                body = Json.MAPPER.createObjectNode().put("object", "error").put("message", e.toString())
                        .put("type", "BadRequestError").putNull("param").put("code", 400);
            }
            byte[] bytes = Json.MAPPER.writeValueAsBytes(body);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    private static final class Refused extends RuntimeException {
        final int status;
        final String type;

        Refused(int status, String type, String message) {
            super(message);
            this.status = status;
            this.type = type;
        }
    }

    private JsonNode models() {
        ObjectNode root = Json.MAPPER.createObjectNode().put("object", "list");
        ObjectNode m = root.putArray("data").addObject().put("id", id).put("object", "model").put("created", 0)
                .put("owned_by", "vllm").put("root", id);
        model.maxContextTokens().ifPresent(n -> m.put("max_model_len", n));
        return root;
    }

    private JsonNode tokenize(JsonNode request) {
        List<Integer> ids = new ArrayList<>();
        if (request.path("add_special_tokens").asBoolean(true)) {
            model.codec().beginOfSequenceId().ifPresent(ids::add);
        }
        ids.addAll(model.codec().encode(request.path("prompt").asText()).ids());
        ObjectNode out = Json.MAPPER.createObjectNode().put("count", ids.size());
        model.maxContextTokens().ifPresent(n -> out.put("max_model_len", n));
        ArrayNode tokens = out.putArray("tokens");
        ids.forEach(tokens::add);
        return out;
    }

    private synchronized JsonNode completions(JsonNode request) {
        completions.incrementAndGet();
        List<List<Integer>> prompts = new ArrayList<>();
        JsonNode prompt = request.path("prompt");
        if (prompt.path(0).isArray()) {
            prompt.forEach(p -> prompts.add(ints(p)));
        } else {
            prompts.add(ints(prompt));
        }
        int maxTokens = request.path("max_tokens").asInt(16);
        if (maxTokens < 1) {
            throw new Refused(400, "BadRequestError", "max_tokens must be at least 1, got " + maxTokens);
        }
        boolean echo = request.path("echo").asBoolean(false);
        (echo ? scorings : generations).incrementAndGet();
        boolean asIds = request.path("return_tokens_as_token_ids").asBoolean(false);
        double temperature = request.path("temperature").asDouble(1.0);
        double topP = request.path("top_p").asDouble(1.0);
        Random seeded = new Random(request.path("seed").asLong(0));
        ObjectNode root = Json.MAPPER.createObjectNode().put("id", "cmpl-fake").put("object", "text_completion")
                .put("created", 0).put("model", id);
        ArrayNode choices = root.putArray("choices");
        int promptTokens = 0;
        int completionTokens = 0;
        for (int i = 0; i < prompts.size(); i++) {
            List<Integer> p = prompts.get(i);
            promptTokens += p.size();
            if (model.maxContextTokens().isPresent() && p.size() + maxTokens > model.maxContextTokens().getAsInt()) {
                throw new Refused(400, "BadRequestError", "This model's maximum context length is "
                        + model.maxContextTokens().getAsInt() + " tokens. However, you requested " + (p.size() + maxTokens)
                        + " tokens (" + p.size() + " in the messages, " + maxTokens + " in the completion).");
            }
            List<StateHandle> handles = new ArrayList<>();
            try {
                StateHandle first = model.open(p.subList(0, 1));
                handles.add(first);
                ScoredTokens rest = model.score(first, List.of(p.subList(1, p.size()))).get(0);
                handles.add(rest.state());
                // vLLM generates until max_tokens or an end-of-sequence token, which is part of the output
                List<Integer> generated = new ArrayList<>();
                List<Double> generatedLogProbs = new ArrayList<>();
                StateHandle at = rest.state();
                String finish = "length";
                while (generated.size() < maxTokens) {
                    Decoding decoding = temperature == 0 ? Decoding.GREEDY
                            : new Decoding(temperature, topP, seeded.nextDouble());
                    TokenStep step = model.nextToken(at, decoding);
                    handles.add(step.state());
                    at = step.state();
                    generated.add(step.token());
                    generatedLogProbs.add(step.logProb());
                    if (model.codec().endOfSequenceIds().contains(step.token())) {
                        finish = "stop";
                        break;
                    }
                }
                completionTokens += generated.size();
                ObjectNode choice = choices.addObject().put("index", i);
                List<Integer> shown = new ArrayList<>(echo ? p : List.of());
                shown.addAll(generated);
                choice.put("text", model.codec().decodeContinuation(shown));
                ObjectNode logprobs = choice.putObject("logprobs");
                ArrayNode tokens = logprobs.putArray("tokens");
                ArrayNode values = logprobs.putArray("token_logprobs");
                ArrayNode offsets = logprobs.putArray("text_offset");
                ArrayNode top = logprobs.putArray("top_logprobs");
                int skipped = shown.size() - generated.size();
                for (int t = 0; t < shown.size(); t++) {
                    int token = shown.get(t);
                    String name = asIds ? "token_id:" + token : model.codec().decodeContinuation(List.of(token));
                    tokens.add(name);
                    offsets.add(t);
                    if (echo && t == 0) {
                        values.addNull();
                        top.addNull();
                        continue;
                    }
                    double lp = t < skipped ? rest.logProbs().get(t - 1) : generatedLogProbs.get(t - skipped);
                    values.add(lp);
                    top.addObject().put(name, lp);
                }
                choice.put("finish_reason", finish).putNull("stop_reason");
            } finally {
                model.release(handles);
            }
        }
        root.putObject("usage").put("prompt_tokens", promptTokens).put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
        return root;
    }

    private static List<Integer> ints(JsonNode array) {
        if (!array.isArray() || array.isEmpty()) {
            throw new Refused(400, "BadRequestError", "prompt must be a non-empty list of token ids");
        }
        List<Integer> out = new ArrayList<>();
        array.forEach(v -> out.add(v.asInt()));
        return out;
    }
}
