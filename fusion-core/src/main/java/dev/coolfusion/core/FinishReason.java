package dev.coolfusion.core;

/** Why a generation ended. */
public enum FinishReason {
    /** The winning segment ended with end-of-sequence. */
    END_OF_SEQUENCE,
    /**
     * A limit on new tokens or characters was reached, or a source's context is full (no room for the next segment
     * in every source).
     */
    LENGTH,
    /** A stop string appeared; the text ends before it. */
    STOP
}
