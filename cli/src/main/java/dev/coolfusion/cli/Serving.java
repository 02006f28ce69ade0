package dev.coolfusion.cli;

import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** What the {@code serve} and {@code worker} commands share: the key warning and serving until Ctrl-C. */
final class Serving {
    /** A server's work between start and stop; it returns once {@code stop} is counted down. */
    interface Body {
        void run() throws Exception;
    }

    private Serving() {}

    /** Whether a key was given; warns on {@code err} when binding beyond loopback without one. */
    static boolean keyed(String apiKey, String host, String what, PrintWriter err) throws UnknownHostException {
        boolean keyed = apiKey != null && !apiKey.isEmpty();
        if (!keyed && !InetAddress.getByName(host).isLoopbackAddress()) {
            err.println("warning: serving on " + host + " without --api-key: anyone who can reach this port can use "
                    + what);
        }
        return keyed;
    }

    /**
     * Runs {@code body} with a shutdown hook that counts down {@code stop} (Ctrl-C) and waits up to 30 s for the body
     * to finish, so that the server closes and releases what clients still hold before the JVM exits.
     */
    static void untilStopped(CountDownLatch stop, String thread, Body body) throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.countDown();
            try {
                closed.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, thread);
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            body.run();
        } finally {
            closed.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it is waiting for 'closed', counted down above
            }
        }
    }
}
