package dev.coolfusion.server;

/**
 * Thrown from the fusion's step listener to end a generation at the segment just committed: {@code CoolFusion}
 * releases every state of the generation on any exception and rethrows it.
 */
final class Stopped extends RuntimeException {
    private static final long serialVersionUID = 1L;

    enum Why {
        /** The client disconnected from a stream. */
        CLIENT_GONE,
        /** The generation ran past the per-request time limit. */
        TIME_LIMIT
    }

    final Why why;

    Stopped(Why why, String message) {
        super(message, null, false, false);
        this.why = why;
    }
}
