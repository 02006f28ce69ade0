package dev.coolfusion.core;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/** The default pool for per-source tasks: daemon threads, so that an idle pool never keeps a JVM alive. */
public final class FusionExecutors {
    private static final class Holder {
        static final ExecutorService SHARED = Executors.newCachedThreadPool(daemonThreads("cool-fusion-source"));
    }

    private FusionExecutors() {}

    public static ExecutorService shared() {
        return Holder.SHARED;
    }

    public static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger counter = new AtomicInteger();
        return runnable -> {
            Thread t = new Thread(runnable, prefix + "-" + counter.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}
