package dev.coolfusion.testkit;

/** Reading a failure the way a user reads it: every message along its causes, suppressed ones included. */
public final class Failures {
    private Failures() {}

    /** The messages of {@code e}, its causes and their suppressed exceptions, joined by {@code " | "}. */
    public static String messages(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            b.append(t.getMessage()).append(" | ");
            for (Throwable s : t.getSuppressed()) {
                b.append("suppressed: ").append(s.getMessage()).append(" | ");
            }
        }
        return b.toString();
    }
}
