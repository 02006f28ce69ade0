package dev.coolfusion.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A server-sent-events response as OpenAI streams it: {@code data: <json>} events, each flushed at once, ending with
 * {@code data: [DONE]}. The status line and headers go out with the first event, so a request that fails before its
 * first segment still gets a plain HTTP error. A write that fails means the client has gone: it throws
 * {@link Stopped} ({@link Stopped.Why#CLIENT_GONE}), which ends the generation at that segment and frees its states.
 */
final class SseStream {
    private final HttpServletResponse response;
    private final ObjectMapper json;
    private OutputStream out;

    SseStream(HttpServletResponse response, ObjectMapper json) {
        this.response = response;
        this.json = json;
    }

    /** Whether the status and headers have been sent (after that, errors are events). */
    boolean started() {
        return out != null;
    }

    void send(JsonNode event) {
        byte[] data;
        try {
            data = json.writeValueAsBytes(event);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write an event: " + e.getMessage(), e);
        }
        write("data: ".getBytes(StandardCharsets.UTF_8), data, "\n\n".getBytes(StandardCharsets.UTF_8));
    }

    /** The last event. A client that left before it changes nothing: the generation is over. */
    void done() {
        try {
            write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        } catch (Stopped gone) {
            // nothing is left to free
        }
    }

    private void write(byte[]... parts) {
        try {
            if (out == null) {
                response.setStatus(200);
                response.setContentType("text/event-stream;charset=utf-8");
                response.setHeader("Cache-Control", "no-cache");
                response.setHeader("X-Accel-Buffering", "no");
                out = response.getOutputStream();
            }
            for (byte[] part : parts) {
                out.write(part);
            }
            out.flush();
        } catch (IOException e) {
            throw new Stopped(Stopped.Why.CLIENT_GONE, "the client closed the connection: " + e.getMessage());
        }
    }
}
