package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * A source that {@link SourceFailurePolicy#DROP} left out of a generation: its proposal and scores are not used from
 * {@code step} on and its states were released (best effort).
 *
 * @param source       the source's name
 * @param step         the 0-based step in which it failed (0 for a failure in open)
 * @param phase        the phase of the failing call: {@code open (M1)}, {@code segment generation (T1)}, {@code
 *                     joint assessment (M3)} or {@code state update (M4)}
 * @param reason       the failing call's error message
 * @param releaseError the error of releasing its states afterwards, if that failed too (ignored otherwise)
 */
public record DroppedSource(String source, int step, String phase, String reason, Optional<String> releaseError) {
    public DroppedSource {
        requireNonNull(source, "source is null");
        requireNonNull(phase, "phase is null");
        requireNonNull(reason, "reason is null");
        requireNonNull(releaseError, "releaseError is null");
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
    }

    /** One line for logs and error messages: who, where and why. */
    public String describe() {
        return "'" + source + "' in step " + step + ", " + phase + ": " + reason
                + releaseError.map(e -> " (releasing its states failed too: " + e + ")").orElse("");
    }
}
