package dev.coolfusion.server;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;

/**
 * A refused or failed request, answered OpenAI-shaped as vLLM answers it: HTTP {@code status} and
 * {@code {"error": {"message", "type", "param", "code"}}}, where {@code type} is the OpenAI client's name for the
 * status ({@code BadRequestError}, {@code AuthenticationError}, ...), {@code param} the request field at fault (or
 * null) and {@code code} the status.
 */
final class ApiError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    final int status;
    final String type;
    final String param;
    final Map<String, String> headers;

    ApiError(int status, String type, String param, String message, Map<String, String> headers, Throwable cause) {
        super(requireNonNull(message, "message is null"), cause);
        this.status = status;
        this.type = requireNonNull(type, "type is null");
        this.param = param;
        this.headers = Map.copyOf(headers);
    }

    /** 400: a field that is malformed, out of range or not supported; {@code param} names it. */
    static ApiError badRequest(String param, String message) {
        return new ApiError(400, "BadRequestError", param, message, Map.of(), null);
    }

    static ApiError badRequest(String param, String message, Throwable cause) {
        return new ApiError(400, "BadRequestError", param, message, Map.of(), cause);
    }

    /** 401: no API key, or the wrong one. */
    static ApiError unauthorized(String message) {
        return new ApiError(401, "AuthenticationError", null, message, Map.of("WWW-Authenticate", "Bearer"), null);
    }

    /** 404: an unknown model ({@code param} "model") or path (no param). */
    static ApiError notFound(String param, String message) {
        return new ApiError(404, "NotFoundError", param, message, Map.of(), null);
    }

    /** 405: a known path with the wrong method. */
    static ApiError methodNotAllowed(String message) {
        return new ApiError(405, "MethodNotAllowedError", null, message, Map.of(), null);
    }

    /** 413: over one of the server's {@code ServerLimits}. */
    static ApiError tooLarge(String param, String message) {
        return new ApiError(413, "RequestTooLargeError", param, message, Map.of(), null);
    }

    /** 429: every generation slot and queue place is taken; retry after {@code seconds}. */
    static ApiError busy(String message, long seconds) {
        return new ApiError(429, "RateLimitError", null, message, Map.of("Retry-After", Long.toString(seconds)), null);
    }

    /** 500: a source model (named in the message) or the server failed. */
    static ApiError internal(String message, Throwable cause) {
        return new ApiError(500, "InternalServerError", null, message, Map.of(), cause);
    }

    /** 504: the generation ran past the per-request time limit and was stopped. */
    static ApiError timeout(String message) {
        return new ApiError(504, "TimeoutError", null, message, Map.of(), null);
    }

    /** The JSON body: {@code {"error": {...}}}. */
    ObjectNode body(ObjectMapper json) {
        ObjectNode root = json.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", status);
        return root;
    }
}
