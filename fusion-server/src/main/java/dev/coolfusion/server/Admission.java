package dev.coolfusion.server;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How many generations run at once ({@code maxRunning}) and how many requests may wait for one ({@code maxQueued}),
 * first come first served. A request that finds every slot and queue place taken is refused at once with 429 and a
 * {@code Retry-After} of about one average generation; one that waits past its time limit is refused the same way.
 */
final class Admission {
    private final int maxRunning;
    private final int maxQueued;
    private final Semaphore slots;
    private final AtomicInteger inside = new AtomicInteger();
    /** Mean generation time in ms, smoothed: what Retry-After is made of. */
    private final AtomicLong meanMillis = new AtomicLong(1000);

    Admission(int maxRunning, int maxQueued) {
        if (maxRunning < 1) {
            throw new IllegalArgumentException("the most concurrent generations must be at least 1, got " + maxRunning);
        }
        if (maxQueued < 0) {
            throw new IllegalArgumentException("the queue length must be at least 0, got " + maxQueued);
        }
        this.maxRunning = maxRunning;
        this.maxQueued = maxQueued;
        this.slots = new Semaphore(maxRunning, true);
    }

    /** A held generation slot; closing it frees the slot and records how long it was held. */
    final class Slot implements AutoCloseable {
        private final long start = System.nanoTime();
        private boolean closed;

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            long took = (System.nanoTime() - start) / 1_000_000;
            meanMillis.getAndUpdate(m -> (m * 7 + took) / 8);
            slots.release();
            inside.decrementAndGet();
        }
    }

    /**
     * Waits for a slot until {@code deadlineNanos} ({@link System#nanoTime()}); 429 when the queue is full or the
     * deadline passes first.
     */
    Slot enter(long deadlineNanos) {
        if (inside.incrementAndGet() > maxRunning + maxQueued) {
            inside.decrementAndGet();
            throw ApiError.busy("the server is busy: " + maxRunning + " generation" + (maxRunning == 1 ? "" : "s")
                    + " running and " + maxQueued + " waiting, its limits (cool-fusion serve --max-concurrent,"
                    + " --max-queue); retry later", retryAfterSeconds());
        }
        boolean acquired = false;
        try {
            acquired = slots.tryAcquire(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (!acquired) {
                inside.decrementAndGet();
            }
        }
        if (!acquired) {
            throw ApiError.busy("the server is busy: the request waited in the queue for its whole time limit"
                    + " (cool-fusion serve --request-timeout); retry later", retryAfterSeconds());
        }
        return new Slot();
    }

    long retryAfterSeconds() {
        int waiting = Math.max(0, inside.get() - maxRunning);
        long perSlot = Math.max(1, (meanMillis.get() * (waiting + 1) / maxRunning + 999) / 1000);
        return Math.min(perSlot, 600);
    }

    int running() {
        return maxRunning - slots.availablePermits();
    }

    int queued() {
        return Math.max(0, inside.get() - running());
    }

    int maxRunning() {
        return maxRunning;
    }

    int maxQueued() {
        return maxQueued;
    }
}
