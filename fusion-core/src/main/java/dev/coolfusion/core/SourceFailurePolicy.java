package dev.coolfusion.core;

import java.util.Locale;

/** What a fused generation does when a source's call fails (open, T1, M3 or M4: an error, a time-out, a lost connection). */
public enum SourceFailurePolicy {
    /** End the generation with the first failing call's error (naming the source and the phase); the default. */
    FAIL,
    /**
     * Leave the failing source out from that step on and go on with the others, while at least one source that can
     * score remains; the trace and the generation name the dropped source and why ({@link DroppedSource}).
     */
    DROP;

    /** The name in configs and on the command line: {@code fail} or {@code drop}. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The policy named {@code name} ({@code fail} or {@code drop}, any case). */
    public static SourceFailurePolicy fromConfigName(String name) {
        for (SourceFailurePolicy p : values()) {
            if (p.configName().equalsIgnoreCase(name == null ? "" : name.strip())) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown source failure policy '" + name + "': use 'fail' (end the generation,"
                + " the default) or 'drop' (go on without the failing source)");
    }
}
