package dev.coolfusion.core;

import dev.coolfusion.spi.FusionException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Runs one task per source for a phase and waits for them.
 *
 * <p>{@link #run} (the {@link SourceFailurePolicy#FAIL} policy) returns as soon as every task has finished or one has
 * failed: the first failure in time is reported, naming its source and the phase. The other tasks of a failed
 * phase get {@value #GRACE_MILLIS} ms to finish (they usually do at once, and their states are then released with the
 * rest); the loop never waits longer on one (hung on a dead worker until its time-out, for example). Tasks still
 * running then are remembered ({@link #whenIdle}) so that their sessions are cleaned up once they finish and never
 * while they run. {@link #runAll} (the {@link SourceFailurePolicy#DROP} policy) waits for
 * every task and returns each failure with its session.
 */
final class SourceTasks {
    /** How long a failed phase waits for its other tasks before it leaves them behind. */
    static final long GRACE_MILLIS = 5_000;

    private final Executor executor;
    /** Tasks of an abandoned phase that had not finished, by session. */
    private final Map<SourceSession, CompletableFuture<?>> running = new IdentityHashMap<>();

    SourceTasks(Executor executor) {
        this.executor = executor;
    }

    /** A task that failed: its session, the phase and the error it threw. */
    record Failure(SourceSession session, String phase, Throwable cause) {
        String message() {
            return cause.getMessage() == null ? cause.toString() : cause.getMessage();
        }
    }

    /** What {@link #runAll} got: one result per session, in order (null for a failed one), and the failures. */
    record Results<T>(List<T> results, List<Failure> failures) {}

    /** Runs the phase; the first failing task ends it with a {@link FusionException} naming the source and phase. */
    <T> List<T> run(String phase, List<SourceSession> sessions, Function<SourceSession, T> task) {
        List<CompletableFuture<T>> futures = submit(sessions, task);
        CompletableFuture<Void> firstFailure = new CompletableFuture<>();
        List<Integer> failedOrder = new ArrayList<>();
        for (int i = 0; i < futures.size(); i++) {
            int index = i;
            futures.get(i).whenComplete((result, error) -> {
                if (error != null) {
                    synchronized (failedOrder) {
                        failedOrder.add(index);
                    }
                    firstFailure.complete(null);
                }
            });
        }
        CompletableFuture<Void> all = CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new));
        CompletableFuture.anyOf(all, firstFailure).exceptionally(e -> null).join();
        if (!all.isDone()) {
            // A task failed: the others usually finish at once and are cleaned up now; one that does not (hung on a
            // dead worker until its time-out) is left behind after a short grace rather than waited for.
            try {
                all.get(GRACE_MILLIS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException ignored) {
                // reported below from the futures themselves
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // Failures in the order they happened; one whose callback has not run yet (allOf can complete first) follows.
        List<Integer> failed;
        synchronized (failedOrder) {
            failed = new ArrayList<>(failedOrder);
        }
        for (int i = 0; i < futures.size(); i++) {
            if (futures.get(i).isCompletedExceptionally() && !failed.contains(i)) {
                failed.add(i);
            }
        }
        if (failed.isEmpty()) {
            return futures.stream().map(CompletableFuture::join).toList();
        }
        Throwable first = cause(futures.get(failed.get(0)));
        FusionException failure = new FusionException("source '" + sessions.get(failed.get(0)).name() + "' failed in "
                + phase + ": " + first.getMessage(), first);
        for (int k = 1; k < failed.size(); k++) {
            failure.addSuppressed(cause(futures.get(failed.get(k))));
        }
        for (int i = 0; i < futures.size(); i++) {
            if (!futures.get(i).isDone()) {
                running.put(sessions.get(i), futures.get(i));
            }
        }
        throw failure;
    }

    /** Runs the phase and waits for every task; failures come back with their sessions, in source order. */
    <T> Results<T> runAll(String phase, List<SourceSession> sessions, Function<SourceSession, T> task) {
        List<CompletableFuture<T>> futures = submit(sessions, task);
        CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).exceptionally(e -> null).join();
        List<T> results = new ArrayList<>(sessions.size());
        List<Failure> failures = new ArrayList<>();
        for (int i = 0; i < futures.size(); i++) {
            if (futures.get(i).isCompletedExceptionally()) {
                results.add(null);
                failures.add(new Failure(sessions.get(i), phase, cause(futures.get(i))));
            } else {
                results.add(futures.get(i).join());
            }
        }
        return new Results<>(results, failures);
    }

    /**
     * Runs {@code cleanUp} for {@code session} now if no task of an abandoned phase still runs on it (and returns
     * true), else once that task has finished (and returns false; a failing deferred clean-up is ignored, as nobody
     * waits for it any more).
     */
    boolean whenIdle(SourceSession session, Runnable cleanUp) {
        CompletableFuture<?> task = running.remove(session);
        if (task == null || task.isDone()) {
            cleanUp.run();
            return true;
        }
        task.whenComplete((r, e) -> {
            try {
                cleanUp.run();
            } catch (RuntimeException ignored) {
                // the generation has already failed with its first error; nobody is left to tell
            }
        });
        return false;
    }

    private <T> List<CompletableFuture<T>> submit(List<SourceSession> sessions, Function<SourceSession, T> task) {
        List<CompletableFuture<T>> futures = new ArrayList<>(sessions.size());
        for (SourceSession session : sessions) {
            try {
                futures.add(CompletableFuture.supplyAsync(() -> task.apply(session), executor));
            } catch (RuntimeException refused) {
                for (int i = 0; i < futures.size(); i++) {
                    running.put(sessions.get(i), futures.get(i));
                }
                throw new FusionException("the fusion's executor refused the task of source '" + session.name()
                        + "': " + refused + "; give the fusion an executor that accepts one task per source", refused);
            }
        }
        return futures;
    }

    private static Throwable cause(CompletableFuture<?> failed) {
        try {
            failed.join();
            throw new IllegalStateException("the task did not fail");
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            return e.getCause() == null ? e : e.getCause();
        }
    }
}
