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
import java.util.concurrent.atomic.AtomicLong;

/**
 * Stands in for an SGLang server, which cannot run here: {@code GET /get_model_info}, {@code GET /v1/models} and the
 * native {@code POST /generate} as SGLang 0.5 defines them ({@code io_struct.GenerateReqInput}: {@code text} or
 * {@code input_ids}, single or batched, {@code sampling_params} with {@code max_new_tokens} (0: prefill only),
 * {@code temperature}, {@code top_p}, {@code sampling_seed}; {@code return_logprob}, {@code logprob_start_len}),
 * answering {@code {"text", "output_ids", "meta_info": {"id", "finish_reason", "prompt_tokens",
 * "completion_tokens", "cached_tokens", "input_token_logprobs", "output_token_logprobs"}}} (a list for a batch), the
 * log-prob entries {@code [logprob, token_id, null]} and the input ones starting at {@code logprob_start_len} with a
 * null first log-prob, as the scheduler builds them. Generation ends at {@code max_new_tokens} or an end-of-sequence
 * token, which is part of the output. A radix cache is simulated for {@code cached_tokens}: the longest prefix of an
 * earlier request, capped at {@code logprob_start_len} when input log-probs are asked for. Numbers come from a real
 * model behind the SPI. Errors are {@code {"error": {"message"}}} with status 400.
 */
final class FakeSglangServer extends FakeHttpServer {
    private final String path;
    private final List<List<Integer>> seen = new ArrayList<>();
    /** HTTP requests that generate, and prefill-only ones ({@code max_new_tokens: 0}: scoring, probes). */
    final AtomicInteger generateRequests = new AtomicInteger();
    final AtomicInteger scoreRequests = new AtomicInteger();
    /** Sequences the prefill-only requests carried (a batch counts each). */
    final AtomicInteger scoredSequences = new AtomicInteger();
    /** Tokens generated (the decoding work asked of the server). */
    final AtomicInteger generatedTokens = new AtomicInteger();
    final AtomicLong promptTokens = new AtomicLong();
    final AtomicLong cachedTokens = new AtomicLong();

    FakeSglangServer(SourceModel model, String path) throws IOException {
        super(model, "application/json");
        this.path = path;
        start();
    }

    @Override
    JsonNode route(String p, JsonNode request) {
        return switch (p) {
            case "/get_model_info" -> Json.MAPPER.createObjectNode().put("model_path", path)
                    .put("tokenizer_path", path).put("is_generation", true).putNull("preferred_sampling_params")
                    .put("weight_version", "default");
            case "/v1/models" -> openAiModels(path, "sglang");
            case "/generate" -> generate(request);
            default -> throw new Refused(404, "Not Found");
        };
    }

    @Override
    JsonNode error(Refused e) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.putObject("error").put("message", e.getMessage());
        return root;
    }

    @Override
    int failureStatus() {
        return 400;
    }

    private synchronized JsonNode generate(JsonNode request) {
        boolean batch;
        List<List<Integer>> inputs = new ArrayList<>();
        if (request.has("text") == request.has("input_ids")) {
            throw new Refused(400, "Either text or input_ids should be provided.");
        }
        if (request.has("text")) {
            batch = request.path("text").isArray();
            List<JsonNode> texts = new ArrayList<>();
            if (batch) {
                request.path("text").forEach(texts::add);
            } else {
                texts.add(request.path("text"));
            }
            texts.forEach(t -> inputs.add(model.codec().encodePrompt(t.asText())));
        } else {
            JsonNode ids = request.path("input_ids");
            batch = ids.path(0).isArray();
            if (batch) {
                ids.forEach(p -> inputs.add(ints(p)));
            } else {
                inputs.add(ints(ids));
            }
        }
        boolean prefillOnly = item(request.path("sampling_params"), 0, batch).path("max_new_tokens").asInt(128) == 0;
        (prefillOnly ? scoreRequests : generateRequests).incrementAndGet();
        ArrayNode results = Json.MAPPER.createArrayNode();
        for (int i = 0; i < inputs.size(); i++) {
            results.add(one(inputs.get(i), item(request.path("sampling_params"), i, batch),
                    item(request.path("return_logprob"), i, batch).asBoolean(false),
                    item(request.path("logprob_start_len"), i, batch).asInt(-1)));
        }
        return batch ? results : results.get(0);
    }

    private static JsonNode item(JsonNode value, int i, boolean batch) {
        return batch && value.isArray() ? value.path(i) : value;
    }

    private JsonNode one(List<Integer> input, JsonNode sampling, boolean returnLogprob, int logprobStart) {
        int maxNew = sampling.path("max_new_tokens").asInt(128);
        double temperature = sampling.path("temperature").asDouble(1.0);
        double topP = sampling.path("top_p").asDouble(1.0);
        Random seeded = new Random(sampling.path("sampling_seed").asLong(42));
        if (maxNew < 0) {
            throw new Refused(400, "max_new_tokens must be at least 0, got " + maxNew);
        }
        if (model.maxContextTokens().isPresent() && input.size() + maxNew > model.maxContextTokens().getAsInt()) {
            throw new Refused(400, "Requested token count exceeds the model's maximum context length of "
                    + model.maxContextTokens().getAsInt() + " tokens. You requested a total of " + (input.size() + maxNew)
                    + " tokens: " + input.size() + " tokens from the input messages and " + maxNew
                    + " tokens for the completion. Please reduce the number of tokens in the input messages or the"
                    + " completion to fit within the limit.");
        }
        int start = logprobStart < 0 ? input.size() - 1 : logprobStart;
        if (returnLogprob && start >= input.size()) {
            throw new Refused(400, "logprob_start_len (" + start + ") is superior or equal to the length of the input"
                    + " tokens (" + input.size() + ").");
        }
        if (maxNew == 0) {
            scoredSequences.incrementAndGet();
        }
        int cached = 0;
        for (List<Integer> s : seen) {
            int k = 0;
            while (k < s.size() && k < input.size() && s.get(k).equals(input.get(k))) {
                k++;
            }
            cached = Math.max(cached, k);
        }
        cached = Math.min(cached, input.size() - 1);
        if (returnLogprob) {
            cached = Math.min(cached, start);
        }
        promptTokens.addAndGet(input.size());
        cachedTokens.addAndGet(cached);
        List<StateHandle> handles = new ArrayList<>();
        ObjectNode result = Json.MAPPER.createObjectNode();
        try {
            ScoredTokens rest = prefill(input, handles);
            List<Integer> generated = new ArrayList<>();
            List<Double> generatedLogProbs = new ArrayList<>();
            StateHandle at = rest.state();
            ObjectNode finish = Json.MAPPER.createObjectNode().put("type", "length").put("length", maxNew);
            while (generated.size() < maxNew) {
                TokenStep step = step(at, temperature == 0, temperature, topP, seeded, handles);
                at = step.state();
                generated.add(step.token());
                generatedLogProbs.add(step.logProb());
                if (endOfSequence(step.token())) {
                    finish = Json.MAPPER.createObjectNode().put("type", "stop").put("matched", step.token());
                    break;
                }
            }
            List<Integer> all = new ArrayList<>(input);
            all.addAll(generated);
            seen.add(all);
            generatedTokens.addAndGet(generated.size());
            result.put("text", model.codec().decode(generated));
            ArrayNode outputIds = result.putArray("output_ids");
            generated.forEach(outputIds::add);
            ObjectNode meta = result.putObject("meta_info").put("id", Long.toHexString(System.nanoTime()));
            meta.set("finish_reason", finish);
            meta.put("prompt_tokens", input.size()).put("completion_tokens", generated.size())
                    .put("cached_tokens", cached).put("e2e_latency", 0.0);
            if (returnLogprob) {
                ArrayNode in = meta.putArray("input_token_logprobs");
                for (int t = start; t < input.size(); t++) {
                    ArrayNode e = in.addArray();
                    if (t == start) {
                        e.addNull();
                    } else {
                        e.add(rest.logProbs().get(t - 1));
                    }
                    e.add(input.get(t)).addNull();
                }
                ArrayNode out = meta.putArray("output_token_logprobs");
                for (int t = 0; t < generated.size(); t++) {
                    out.addArray().add(generatedLogProbs.get(t)).add(generated.get(t)).addNull();
                }
            }
        } finally {
            model.release(handles);
        }
        return result;
    }

    private static List<Integer> ints(JsonNode array) {
        return ints(array, null, "input_ids must be a non-empty list of token ids");
    }
}
