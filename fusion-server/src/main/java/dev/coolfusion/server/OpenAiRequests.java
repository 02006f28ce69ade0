package dev.coolfusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.template.TemplateMessage;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Reads the bodies of {@code POST /v1/chat/completions} and {@code POST /v1/completions} strictly, with the field
 * names and meanings of OpenAI's API as vLLM implements it. A field of the wrong type or range, or one asking for what
 * a fused model cannot do ({@code n != 1}, tools, a JSON response format, log-probabilities, penalties, ...), is an
 * {@link ApiError} 400 whose {@code param} names it. Unknown fields are ignored, as vLLM ignores them. A JSON
 * {@code null} is the same as a missing field.
 */
final class OpenAiRequests {
    private OpenAiRequests() {}

    /**
     * The sampling fields both endpoints share; {@code null} or empty where the request leaves the fusion's default.
     *
     * @param maxTokens   {@code max_completion_tokens}, else {@code max_tokens}: new tokens, counted in the first
     *                    source's tokenization
     * @param temperature 0 is greedy
     * @param topP        nucleus mass in (0, 1]
     * @param seed        the sampling seed
     * @param stop        the stop strings; an empty list turns the config's off; null keeps them
     */
    record Sampling(OptionalInt maxTokens, Double temperature, Double topP, Long seed, List<String> stop) {}

    /** A chat completion request: the conversation (system, user and assistant messages). */
    record ChatCall(Optional<String> model, List<TemplateMessage> messages, Sampling sampling, boolean stream,
            boolean includeUsage) {}

    /** A text completion request: one choice per prompt. */
    record CompletionCall(Optional<String> model, List<String> prompts, Sampling sampling, boolean echo, boolean stream,
            boolean includeUsage) {}

    static ChatCall chat(JsonNode body) {
        ObjectNode root = object(body);
        refuseCommon(root);
        if (isTrue(root, "logprobs")) {
            throw unsupported("logprobs", "'logprobs' is not supported by the fused model: its tokens are not one"
                    + " tokenizer's; each segment's per-model scores are in the response's 'cool_fusion' trace");
        }
        refuseIfPresent(root, "top_logprobs", "'top_logprobs' is not supported by the fused model (no logprobs)");
        refuseTools(root);
        JsonNode format = present(root, "response_format");
        if (format != null) {
            String type = format.isObject() ? text(format.get("type")) : null;
            if (!"text".equals(type)) {
                throw unsupported("response_format", "response_format " + (type == null ? format.toString()
                        : "'" + type + "'") + " is not supported by the fused model: it writes plain text only"
                        + " ({\"type\": \"text\"})");
            }
        }
        List<TemplateMessage> messages = messages(root);
        boolean stream = bool(root, "stream", false);
        Sampling sampling = sampling(root, "max_completion_tokens", 1);
        return new ChatCall(model(root), messages, sampling, stream, includeUsage(root, stream));
    }

    static CompletionCall completion(JsonNode body) {
        ObjectNode root = object(body);
        refuseCommon(root);
        refuseIfPresent(root, "logprobs", "'logprobs' is not supported by the fused model: its tokens are not one"
                + " tokenizer's; each segment's per-model scores are in the response's 'cool_fusion' trace");
        JsonNode bestOf = present(root, "best_of");
        if (bestOf != null && !(bestOf.canConvertToInt() && bestOf.intValue() == 1)) {
            throw unsupported("best_of", "'best_of' other than 1 is not supported by the fused model");
        }
        JsonNode suffix = present(root, "suffix");
        if (suffix != null && !(suffix.isTextual() && suffix.textValue().isEmpty())) {
            throw unsupported("suffix", "'suffix' (insertion) is not supported by the fused model");
        }
        List<String> prompts = prompts(root);
        boolean echo = bool(root, "echo", false);
        boolean stream = bool(root, "stream", false);
        Sampling sampling = sampling(root, null, 0);
        if (!echo && sampling.maxTokens().isPresent() && sampling.maxTokens().getAsInt() == 0) {
            throw ApiError.badRequest("max_tokens", "max_tokens must be at least 1, got 0 (0 is only for echo: true,"
                    + " which returns the prompt alone)");
        }
        return new CompletionCall(model(root), prompts, sampling, echo, stream, includeUsage(root, stream));
    }

    // ------------------------------------------------------------------------------------------------- fields

    private static ObjectNode object(JsonNode body) {
        if (!(body instanceof ObjectNode o)) {
            throw ApiError.badRequest(null, "the request body must be a JSON object, got "
                    + (body == null ? "nothing" : body.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)));
        }
        return o;
    }

    /** The field, or null when missing or JSON null. */
    private static JsonNode present(ObjectNode root, String field) {
        JsonNode v = root.get(field);
        return v == null || v.isNull() ? null : v;
    }

    private static String text(JsonNode v) {
        return v != null && v.isTextual() ? v.textValue() : null;
    }

    private static Optional<String> model(ObjectNode root) {
        JsonNode v = present(root, "model");
        if (v == null) {
            return Optional.empty();
        }
        if (!v.isTextual()) {
            throw ApiError.badRequest("model", "'model' must be a string, got " + v);
        }
        return Optional.of(v.textValue());
    }

    private static boolean bool(ObjectNode root, String field, boolean otherwise) {
        JsonNode v = present(root, field);
        if (v == null) {
            return otherwise;
        }
        if (!v.isBoolean()) {
            throw ApiError.badRequest(field, "'" + field + "' must be true or false, got " + v);
        }
        return v.booleanValue();
    }

    private static boolean isTrue(ObjectNode root, String field) {
        return bool(root, field, false);
    }

    private static ApiError unsupported(String field, String message) {
        return ApiError.badRequest(field, message);
    }

    private static void refuseIfPresent(ObjectNode root, String field, String message) {
        if (present(root, field) != null) {
            throw unsupported(field, message);
        }
    }

    /** A number field that is absent or has the value that changes nothing (0 for a penalty). */
    private static void refuseUnless(ObjectNode root, String field, double neutral, String what) {
        JsonNode v = present(root, field);
        if (v == null) {
            return;
        }
        if (!v.isNumber()) {
            throw ApiError.badRequest(field, "'" + field + "' must be a number, got " + v);
        }
        if (v.doubleValue() != neutral) {
            throw unsupported(field, "'" + field + "' is not supported by the fused model (" + what + ")");
        }
    }

    /** What neither endpoint can do. */
    private static void refuseCommon(ObjectNode root) {
        JsonNode n = present(root, "n");
        if (n != null && !(n.canConvertToInt() && n.isIntegralNumber() && n.intValue() == 1)) {
            throw unsupported("n", "'n' must be 1, got " + n + ": the fused model writes one answer per request (send"
                    + " the request again, with another seed, for more)");
        }
        refuseUnless(root, "presence_penalty", 0, "no penalties");
        refuseUnless(root, "frequency_penalty", 0, "no penalties");
        refuseUnless(root, "repetition_penalty", 1, "no penalties");
        refuseUnless(root, "min_p", 0, "sampling is temperature and top_p only");
        JsonNode topK = present(root, "top_k");
        if (topK != null && !(topK.isIntegralNumber() && (topK.intValue() == -1 || topK.intValue() == 0))) {
            throw unsupported("top_k", "'top_k' is not supported by the fused model (sampling is temperature and"
                    + " top_p only), got " + topK);
        }
        JsonNode bias = present(root, "logit_bias");
        if (bias != null && !(bias.isObject() && bias.isEmpty())) {
            throw unsupported("logit_bias", "'logit_bias' is not supported by the fused model: token ids differ"
                    + " between its sources' tokenizers");
        }
        refuseIfPresent(root, "prompt_logprobs", "'prompt_logprobs' is not supported by the fused model");
    }

    private static void refuseTools(ObjectNode root) {
        for (String field : new String[] {"tools", "functions"}) {
            JsonNode v = present(root, field);
            if (v != null && !(v.isArray() && v.isEmpty())) {
                throw unsupported(field, "'" + field + "' (tool calling) is not supported by the fused model: it writes"
                        + " plain text only");
            }
        }
        for (String field : new String[] {"tool_choice", "function_call"}) {
            JsonNode v = present(root, field);
            if (v != null && !(v.isTextual() && (v.textValue().equals("none") || v.textValue().equals("auto")))) {
                throw unsupported(field, "'" + field + "' " + v + " is not supported by the fused model (no tools)");
            }
        }
    }

    private static boolean includeUsage(ObjectNode root, boolean stream) {
        JsonNode options = present(root, "stream_options");
        if (options == null) {
            return false;
        }
        if (!stream) {
            throw ApiError.badRequest("stream_options", "'stream_options' can only be given with \"stream\": true");
        }
        if (!options.isObject()) {
            throw ApiError.badRequest("stream_options", "'stream_options' must be an object, got " + options);
        }
        JsonNode include = options.get("include_usage");
        if (include == null || include.isNull()) {
            return false;
        }
        if (!include.isBoolean()) {
            throw ApiError.badRequest("stream_options.include_usage", "'stream_options.include_usage' must be true or"
                    + " false, got " + include);
        }
        return include.booleanValue();
    }

    private static Sampling sampling(ObjectNode root, String preferredMax, int minTokens) {
        OptionalInt maxTokens = OptionalInt.empty();
        for (String field : preferredMax == null ? new String[] {"max_tokens"}
                : new String[] {preferredMax, "max_tokens"}) {
            JsonNode v = present(root, field);
            if (v == null) {
                continue;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw ApiError.badRequest(field, "'" + field + "' must be an integer, got " + v);
            }
            if (v.intValue() < minTokens) {
                throw ApiError.badRequest(field, "'" + field + "' must be at least " + minTokens + ", got " + v);
            }
            if (maxTokens.isEmpty()) {
                maxTokens = OptionalInt.of(v.intValue());
            }
        }
        Double temperature = number(root, "temperature");
        if (temperature != null && !(temperature >= 0 && !temperature.isInfinite())) {
            throw ApiError.badRequest("temperature", "'temperature' must be a finite number >= 0 (0 is greedy), got "
                    + temperature);
        }
        Double topP = number(root, "top_p");
        if (topP != null && !(topP > 0 && topP <= 1)) {
            throw ApiError.badRequest("top_p", "'top_p' must be in (0, 1], got " + topP);
        }
        Long seed = null;
        JsonNode s = present(root, "seed");
        if (s != null) {
            if (!s.isIntegralNumber() || !s.canConvertToLong()) {
                throw ApiError.badRequest("seed", "'seed' must be an integer, got " + s);
            }
            seed = s.longValue();
        }
        return new Sampling(maxTokens, temperature, topP, seed, stop(root));
    }

    private static Double number(ObjectNode root, String field) {
        JsonNode v = present(root, field);
        if (v == null) {
            return null;
        }
        if (!v.isNumber()) {
            throw ApiError.badRequest(field, "'" + field + "' must be a number, got " + v);
        }
        return v.doubleValue();
    }

    private static List<String> stop(ObjectNode root) {
        JsonNode v = present(root, "stop");
        if (v == null) {
            return null;
        }
        List<String> stops = new ArrayList<>();
        if (v.isTextual()) {
            stops.add(v.textValue());
        } else if (v.isArray()) {
            for (int i = 0; i < v.size(); i++) {
                if (!v.get(i).isTextual()) {
                    throw ApiError.badRequest("stop", "'stop' must be a string or a list of strings; stop[" + i
                            + "] is " + v.get(i));
                }
                stops.add(v.get(i).textValue());
            }
        } else {
            throw ApiError.badRequest("stop", "'stop' must be a string or a list of strings, got " + v);
        }
        if (stops.contains("")) {
            throw ApiError.badRequest("stop", "'stop' strings must not be empty");
        }
        return stops;
    }

    // ------------------------------------------------------------------------------------------------- content

    /** The conversation: system (and developer), user and assistant messages with text content. */
    private static List<TemplateMessage> messages(ObjectNode root) {
        JsonNode v = present(root, "messages");
        if (v == null) {
            throw ApiError.badRequest("messages", "'messages' is required: a list of {\"role\", \"content\"} messages");
        }
        if (!v.isArray() || v.isEmpty()) {
            throw ApiError.badRequest("messages", "'messages' must be a non-empty list of {\"role\", \"content\"}"
                    + " messages, got " + (v.isArray() ? "[]" : v.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)));
        }
        List<TemplateMessage> out = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            String where = "messages[" + i + "]";
            JsonNode m = v.get(i);
            if (!m.isObject()) {
                throw ApiError.badRequest(where, where + " must be an object with 'role' and 'content'");
            }
            String role = text(m.get("role"));
            if (role == null) {
                throw ApiError.badRequest(where + ".role", where + ".role must be a string: system, user or assistant");
            }
            JsonNode toolCalls = m.get("tool_calls");
            if (toolCalls != null && !toolCalls.isNull() && !(toolCalls.isArray() && toolCalls.isEmpty())) {
                throw unsupported(where + ".tool_calls", "tool calls are not supported by the fused model (" + where
                        + " has tool_calls)");
            }
            String content = content(m.get("content"), where + ".content", role.equals("assistant"));
            switch (role) {
                case "system", "developer" -> out.add(TemplateMessage.system(content));
                case "user" -> out.add(TemplateMessage.user(content));
                case "assistant" -> out.add(TemplateMessage.assistant(content));
                case "tool", "function" -> throw unsupported(where + ".role", "messages of role '" + role
                        + "' are not supported by the fused model (no tools)");
                default -> throw ApiError.badRequest(where + ".role", where + ".role '" + role
                        + "' is not one of system, developer, user, assistant");
            }
        }
        return out;
    }

    /** A message's text: a string, or text parts joined by newlines; null only for an assistant message. */
    private static String content(JsonNode v, String where, boolean mayBeNull) {
        if (v == null || v.isNull()) {
            if (mayBeNull) {
                return "";
            }
            throw ApiError.badRequest(where, where + " is required: a string or a list of text parts");
        }
        if (v.isTextual()) {
            return v.textValue();
        }
        if (!v.isArray()) {
            throw ApiError.badRequest(where, where + " must be a string or a list of text parts, got " + v);
        }
        StringBuilder text = new StringBuilder();
        for (int j = 0; j < v.size(); j++) {
            JsonNode part = v.get(j);
            String type = part.isObject() ? text(part.get("type")) : null;
            if (!"text".equals(type)) {
                throw unsupported(where + "[" + j + "].type", "content of type " + (type == null ? part.toString()
                        : "'" + type + "'") + " is not supported by the fused model: it reads text only");
            }
            String t = text(part.get("text"));
            if (t == null) {
                throw ApiError.badRequest(where + "[" + j + "].text", where + "[" + j + "].text must be a string");
            }
            text.append(text.length() == 0 ? "" : "\n").append(t);
        }
        return text.toString();
    }

    /** One prompt or several (one choice each); token-id prompts are refused. */
    private static List<String> prompts(ObjectNode root) {
        JsonNode v = present(root, "prompt");
        if (v == null) {
            throw ApiError.badRequest("prompt", "'prompt' is required: a string or a list of strings");
        }
        if (v.isTextual()) {
            return List.of(v.textValue());
        }
        String tokenIds = "token-id prompts are not supported: the fused sources have different tokenizers, so send"
                + " the prompt as text";
        if (!v.isArray() || v.isEmpty()) {
            throw ApiError.badRequest("prompt", "'prompt' must be a string or a non-empty list of strings, got " + v);
        }
        List<String> out = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            JsonNode p = v.get(i);
            if (p.isIntegralNumber() || p.isArray()) {
                throw ApiError.badRequest("prompt", tokenIds);
            }
            if (!p.isTextual()) {
                throw ApiError.badRequest("prompt", "'prompt' must be a string or a list of strings; prompt[" + i
                        + "] is " + p);
            }
            out.add(p.textValue());
        }
        return out;
    }
}
