package dev.coolfusion.core;

import dev.coolfusion.spi.FusionException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Function;

/**
 * Runs one task per source for a phase and waits for all of them, so that no task outlives its phase. A failure
 * is reported with the source's name and the phase.
 */
final class SourceTasks {
    private final Executor executor;

    SourceTasks(Executor executor) {
        this.executor = executor;
    }

    <T> List<T> run(String phase, List<SourceSession> sessions, Function<SourceSession, T> task) {
        List<CompletableFuture<T>> futures = new ArrayList<>(sessions.size());
        for (SourceSession session : sessions) {
            futures.add(CompletableFuture.supplyAsync(() -> task.apply(session), executor));
        }
        List<T> results = new ArrayList<>(sessions.size());
        FusionException failure = null;
        for (int i = 0; i < futures.size(); i++) {
            try {
                results.add(futures.get(i).join());
            } catch (CompletionException | java.util.concurrent.CancellationException e) {
                Throwable cause = e.getCause() == null ? e : e.getCause();
                if (failure == null) {
                    failure = new FusionException("source '" + sessions.get(i).name() + "' failed in " + phase + ": "
                            + cause.getMessage(), cause);
                } else {
                    failure.addSuppressed(cause);
                }
                results.add(null);
            }
        }
        if (failure != null) {
            throw failure;
        }
        return results;
    }
}
