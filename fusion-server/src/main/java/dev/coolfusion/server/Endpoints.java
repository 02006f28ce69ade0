package dev.coolfusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.core.FinishReason;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepListener;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.server.OpenAiRequests.ChatCall;
import dev.coolfusion.server.OpenAiRequests.CompletionCall;
import dev.coolfusion.server.OpenAiRequests.Sampling;
import dev.coolfusion.serving.ServerLimits;
import dev.coolfusion.serving.ServerLimits.Limit;
import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.template.ChatTemplateException;
import dev.coolfusion.template.SourcePrompts;
import jakarta.servlet.http.HttpServletResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions} on one fusion: request to fusion options and
 * per-source prompts (each source's own chat template, as the LangChain4j adapter prompts them), admission, the
 * generation, and the response or stream.
 */
final class Endpoints {
    private final ConfiguredFusion fused;
    private final List<SourceModel> sources;
    private final SourcePrompts prompts;
    private final String modelName;
    private final ServerLimits limits;
    private final Admission admission;
    private final long timeoutNanos;
    private final ObjectMapper json;
    private final FusionServer.Counters counters;

    Endpoints(ConfiguredFusion fused, String modelName, ServerLimits limits, Admission admission, long timeoutNanos,
            ObjectMapper json, FusionServer.Counters counters) {
        this.fused = fused;
        this.sources = fused.sources();
        this.prompts = SourcePrompts.of(sources);
        this.modelName = modelName;
        this.limits = limits;
        this.admission = admission;
        this.timeoutNanos = timeoutNanos;
        this.json = json;
        this.counters = counters;
    }

    // ------------------------------------------------------------------------------------------------- chat

    /** Answers a chat completion request: a JSON body, or written as a stream; errors are thrown as {@link ApiError}. */
    JsonNode chat(JsonNode body, HttpServletResponse response) {
        ChatCall call = OpenAiRequests.chat(body);
        checkModel(call.model().orElse(null));
        FusionOptions options = options(call.sampling());
        List<List<Integer>> tokens;
        try {
            tokens = prompts.tokens(call.messages());
        } catch (ChatTemplateException e) {
            throw ApiError.badRequest("messages", e.getMessage(), e);
        }
        checkPrompt(tokens, "messages");
        long deadline = System.nanoTime() + timeoutNanos;
        String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        try (Admission.Slot slot = admission.enter(deadline)) {
            if (!call.stream()) {
                Generation g = generate(tokens, options, deadline, step -> {}, "messages");
                ObjectNode root = head(id, "chat.completion", created);
                ObjectNode choice = root.putArray("choices").addObject();
                choice.put("index", 0);
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                message.put("content", g.text());
                choice.putNull("logprobs");
                choice.put("finish_reason", finishReason(g.finish()));
                int input = firstPromptTokens(g, tokens);
                usage(root.putObject("usage"), input, g.outputTokens());
                ObjectNode trace = root.putObject("cool_fusion");
                segments(trace.putArray("segments"), g.steps(), null);
                trace.set("prompt_tokens", json.valueToTree(g.promptTokens()));
                trace.set("dropped", Traces.dropped(g.dropped(), null));
                counters.completed.increment();
                return root;
            }
            SseStream stream = new SseStream(response, json);
            AtomicBoolean first = new AtomicBoolean(true);
            AtomicBoolean finished = new AtomicBoolean(false);
            Consumer<StepTrace> onStep = step -> {
                if (step.emitted().isEmpty() && step.finish().isEmpty()) {
                    return;
                }
                ObjectNode chunk = head(id, "chat.completion.chunk", created);
                ObjectNode choice = chunk.putArray("choices").addObject();
                choice.put("index", 0);
                ObjectNode delta = choice.putObject("delta");
                if (first.getAndSet(false)) {
                    delta.put("role", "assistant");
                }
                delta.put("content", step.emitted());
                choice.putNull("logprobs");
                if (step.finish().isPresent()) {
                    choice.put("finish_reason", finishReason(step.finish().get()));
                    finished.set(true);
                } else {
                    choice.putNull("finish_reason");
                }
                if (call.includeUsage()) {
                    chunk.putNull("usage");
                }
                ArrayNode segments = chunk.putObject("cool_fusion").putArray("segments");
                if (!step.emitted().isEmpty()) {
                    segments.add(Traces.segment(step, null));
                }
                stream.send(chunk);
            };
            Generation g;
            try {
                g = generate(tokens, options, deadline, onStep::accept, "messages");
            } catch (ApiError e) {
                return failStream(stream, e);
            }
            if (!finished.get()) {
                ObjectNode chunk = head(id, "chat.completion.chunk", created);
                ObjectNode choice = chunk.putArray("choices").addObject();
                choice.put("index", 0);
                ObjectNode delta = choice.putObject("delta");
                if (first.get()) {
                    delta.put("role", "assistant");
                    delta.put("content", "");
                }
                choice.putNull("logprobs");
                choice.put("finish_reason", finishReason(g.finish()));
                if (call.includeUsage()) {
                    chunk.putNull("usage");
                }
                chunk.putObject("cool_fusion").putArray("segments");
                sendQuietly(stream, chunk);
            }
            if (call.includeUsage()) {
                ObjectNode chunk = head(id, "chat.completion.chunk", created);
                chunk.putArray("choices");
                usage(chunk.putObject("usage"), firstPromptTokens(g, tokens), g.outputTokens());
                ObjectNode trace = chunk.putObject("cool_fusion");
                trace.putArray("segments");
                trace.set("prompt_tokens", json.valueToTree(g.promptTokens()));
                trace.set("dropped", Traces.dropped(g.dropped(), null));
                sendQuietly(stream, chunk);
            }
            stream.done();
            counters.completed.increment();
            return null;
        }
    }

    // ------------------------------------------------------------------------------------------- completions

    /** Answers a text completion request: one choice per prompt, fused one after the other in one slot. */
    JsonNode completion(JsonNode body, HttpServletResponse response) {
        CompletionCall call = OpenAiRequests.completion(body);
        checkModel(call.model().orElse(null));
        FusionOptions options = options(call.sampling());
        boolean generateNothing = call.sampling().maxTokens().isPresent() && call.sampling().maxTokens().getAsInt() == 0;
        List<List<List<Integer>>> perPrompt = new ArrayList<>();
        for (String prompt : call.prompts()) {
            List<List<Integer>> tokens = new ArrayList<>();
            for (SourceModel source : sources) {
                tokens.add(source.codec().encodePrompt(prompt));
            }
            checkPrompt(tokens, "prompt");
            perPrompt.add(tokens);
        }
        long deadline = System.nanoTime() + timeoutNanos;
        String id = "cmpl-" + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        try (Admission.Slot slot = admission.enter(deadline)) {
            SseStream stream = call.stream() ? new SseStream(response, json) : null;
            ObjectNode root = head(id, "text_completion", created);
            ArrayNode choices = root.putArray("choices");
            ArrayNode allSegments = json.createArrayNode();
            ArrayNode promptTokens = json.createArrayNode();
            ArrayNode dropped = json.createArrayNode();
            int inputTotal = 0;
            int outputTotal = 0;
            for (int index = 0; index < call.prompts().size(); index++) {
                String prompt = call.prompts().get(index);
                List<List<Integer>> tokens = perPrompt.get(index);
                final int choiceIndex = index;
                if (stream != null && call.echo()) {
                    try {
                        stream.send(completionChunk(id, created, choiceIndex, prompt, null, call.includeUsage(), null));
                    } catch (Stopped gone) {
                        counters.cancelled.increment();
                        return null;
                    }
                }
                String text;
                FinishReason finish;
                int input;
                int output;
                if (generateNothing) {
                    text = "";
                    finish = FinishReason.LENGTH;
                    input = tokens.get(0).size();
                    output = 0;
                    ObjectNode p = promptTokens.addObject();
                    for (int i = 0; i < sources.size(); i++) {
                        p.put(sources.get(i).name(), tokens.get(i).size());
                    }
                    if (stream != null) {
                        sendQuietly(stream, completionChunk(id, created, choiceIndex, "", "length", call.includeUsage(),
                                null));
                    }
                } else {
                    AtomicBoolean finished = new AtomicBoolean(false);
                    StepListener listener = stream == null ? step -> {} : step -> {
                        if (step.emitted().isEmpty() && step.finish().isEmpty()) {
                            return;
                        }
                        String reason = step.finish().map(Endpoints::finishReason).orElse(null);
                        finished.set(reason != null);
                        stream.send(completionChunk(id, created, choiceIndex, step.emitted(), reason,
                                call.includeUsage(), step.emitted().isEmpty() ? null : Traces.segment(step, choiceIndex)));
                    };
                    Generation g;
                    try {
                        g = generate(tokens, options, deadline, listener, "prompt");
                    } catch (ApiError e) {
                        if (stream == null) {
                            throw e;
                        }
                        return failStream(stream, e);
                    }
                    if (stream != null && !finished.get()) {
                        sendQuietly(stream, completionChunk(id, created, choiceIndex, "", finishReason(g.finish()),
                                call.includeUsage(), null));
                    }
                    text = g.text();
                    finish = g.finish();
                    input = firstPromptTokens(g, tokens);
                    output = g.outputTokens();
                    segments(allSegments, g.steps(), choiceIndex);
                    promptTokens.add(json.valueToTree(g.promptTokens()));
                    Traces.addDropped(dropped, g.dropped(), choiceIndex);
                }
                inputTotal += input;
                outputTotal += output;
                ObjectNode choice = choices.addObject();
                choice.put("index", choiceIndex);
                choice.put("text", call.echo() ? prompt + text : text);
                choice.putNull("logprobs");
                choice.put("finish_reason", finishReason(finish));
            }
            counters.completed.increment();
            if (stream != null) {
                if (call.includeUsage()) {
                    ObjectNode chunk = head(id, "text_completion", created);
                    chunk.putArray("choices");
                    usage(chunk.putObject("usage"), inputTotal, outputTotal);
                    ObjectNode trace = chunk.putObject("cool_fusion");
                    trace.putArray("segments");
                    trace.set("prompt_tokens", promptTokens);
                    trace.set("dropped", dropped);
                    sendQuietly(stream, chunk);
                }
                stream.done();
                return null;
            }
            usage(root.putObject("usage"), inputTotal, outputTotal);
            ObjectNode trace = root.putObject("cool_fusion");
            trace.set("segments", allSegments);
            trace.set("prompt_tokens", promptTokens);
            trace.set("dropped", dropped);
            return root;
        }
    }

    private ObjectNode completionChunk(String id, long created, int index, String text, String finishReason,
            boolean includeUsage, ObjectNode segment) {
        ObjectNode chunk = head(id, "text_completion", created);
        ObjectNode choice = chunk.putArray("choices").addObject();
        choice.put("index", index);
        choice.put("text", text);
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason);
        if (includeUsage) {
            chunk.putNull("usage");
        }
        ArrayNode segments = chunk.putObject("cool_fusion").putArray("segments");
        if (segment != null) {
            segments.add(segment);
        }
        return chunk;
    }

    // ------------------------------------------------------------------------------------------------- shared

    private ObjectNode head(String id, String object, long created) {
        ObjectNode root = json.createObjectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", modelName);
        return root;
    }

    private static void usage(ObjectNode usage, int input, int output) {
        usage.put("prompt_tokens", input);
        usage.put("completion_tokens", output);
        usage.put("total_tokens", input + output);
    }

    private void segments(ArrayNode into, List<StepTrace> steps, Integer choice) {
        for (StepTrace step : steps) {
            if (!step.emitted().isEmpty()) {
                into.add(Traces.segment(step, choice));
            }
        }
    }

    /** The prompt's length in the first source's tokens, as the LangChain4j adapter counts usage. */
    private int firstPromptTokens(Generation g, List<List<Integer>> tokens) {
        Integer n = g.promptTokens().get(sources.get(0).name());
        return n == null ? tokens.get(0).size() : n;
    }

    static String finishReason(FinishReason finish) {
        return switch (finish) {
            case END_OF_SEQUENCE, STOP -> "stop";
            case LENGTH -> "length";
        };
    }

    private void checkModel(String requested) {
        if (requested != null && !requested.equals(modelName)) {
            throw ApiError.notFound("model", "The model `" + requested + "` does not exist: this server serves `"
                    + modelName + "` (GET /v1/models)");
        }
    }

    /** The fusion's default options with the request's sampling fields, as the LangChain4j adapter maps them. */
    private FusionOptions options(Sampling s) {
        FusionOptions.Builder b = fused.options().toBuilder();
        OptionalInt max = s.maxTokens();
        if (max.isPresent() && max.getAsInt() > limits.maxTokensPerRequest()) {
            throw ApiError.tooLarge("max_tokens", limits.refusal(Limit.TOKENS_PER_REQUEST, "max_tokens asks for "
                    + max.getAsInt() + " new tokens", "ask for fewer"));
        }
        if (max.isPresent() && max.getAsInt() > 0) {
            b.maxNewTokens(max.getAsInt());
        }
        if (s.temperature() != null) {
            b.temperature(s.temperature());
        }
        if (s.topP() != null) {
            b.topP(s.topP());
        }
        if (s.seed() != null) {
            b.seed(s.seed());
        }
        if (s.stop() != null) {
            b.stopStrings(s.stop());
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest(null, e.getMessage(), e);
        }
    }

    /**
     * Refuses, before any model work, a prompt over the request limit ({@link ServerLimits#maxTokensPerRequest}: 413)
     * or one that leaves a source's context no room for an answer (400), naming the source.
     */
    private void checkPrompt(List<List<Integer>> tokens, String param) {
        for (int i = 0; i < sources.size(); i++) {
            int n = tokens.get(i).size();
            String name = sources.get(i).name();
            if (n > limits.maxTokensPerRequest()) {
                throw ApiError.tooLarge(param, limits.refusal(Limit.TOKENS_PER_REQUEST, "the prompt has " + n
                        + " tokens for source '" + name + "'", "shorten it"));
            }
            OptionalInt max = sources.get(i).maxContextTokens();
            if (max.isPresent() && n >= max.getAsInt()) {
                throw ApiError.badRequest(param, "the prompt has " + n + " tokens for source '" + name + "', "
                        + (n == max.getAsInt() ? "which fills" : "more than") + " its max context of "
                        + max.getAsInt() + " tokens and leaves no room for an answer; shorten the prompt (nothing is"
                        + " truncated)");
            }
        }
    }

    /**
     * Runs one generation; {@code sink} sees each committed step. A failure comes back as an {@link ApiError}: the
     * client gone ({@link Stopped}) is rethrown as is, for the caller to end quietly.
     */
    private Generation generate(List<List<Integer>> tokens, FusionOptions options, long deadline, StepListener sink,
            String promptParam) {
        StepListener listener = step -> {
            counters.steps.increment();
            sink.onStep(step);
            if (step.finish().isEmpty() && System.nanoTime() - deadline > 0) {
                throw new Stopped(Stopped.Why.TIME_LIMIT, "time limit");
            }
        };
        try {
            return fused.fusion().generateFromTokens(tokens, options, listener);
        } catch (Stopped stopped) {
            if (stopped.why == Stopped.Why.CLIENT_GONE) {
                counters.cancelled.increment();
                throw stopped;
            }
            counters.timedOut.increment();
            throw ApiError.timeout("the generation ran past this server's time limit of " + timeoutNanos / 1_000_000_000
                    + " s per request (cool-fusion serve --request-timeout) and was stopped; ask for fewer tokens"
                    + " (max_tokens)");
        } catch (ContextLengthExceededException e) {
            throw ApiError.badRequest(promptParam, e.getMessage(), e);
        } catch (FusionException e) {
            counters.failed.increment();
            throw ApiError.internal(e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest(promptParam, e.getMessage(), e);
        } catch (RuntimeException e) {
            counters.failed.increment();
            throw ApiError.internal("the fusion failed: " + e, e);
        }
    }

    /** An error after the stream began: an error event, then [DONE], as vLLM ends a failed stream. */
    private JsonNode failStream(SseStream stream, ApiError e) {
        if (!stream.started()) {
            throw e;
        }
        sendQuietly(stream, e.body(json));
        stream.done();
        return null;
    }

    private static void sendQuietly(SseStream stream, JsonNode event) {
        try {
            stream.send(event);
        } catch (Stopped gone) {
            // the answer is complete; a client that left before its last events frees nothing
        }
    }
}
