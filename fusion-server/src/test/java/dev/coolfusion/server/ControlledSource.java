package dev.coolfusion.server;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ForwardingSourceModel;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * A real source whose {@code nextToken} a test can slow down, hold (until {@link #open()}ed) or make fail, to drive the
 * server's queue, cancellation and error paths deterministically; every other call goes to the real source.
 */
final class ControlledSource extends ForwardingSourceModel {
    volatile long delayMillis;
    volatile boolean fail;
    private volatile Semaphore gate;
    /** Released once per nextToken that reached the gate, so a test can wait until a generation is running. */
    final Semaphore reached = new Semaphore(0);

    ControlledSource(SourceModel inner) {
        super(inner);
    }

    /** From now on every nextToken waits until {@link #open()}. */
    void hold() {
        gate = new Semaphore(0);
    }

    void open() {
        Semaphore g = gate;
        gate = null;
        if (g != null) {
            g.release(1_000_000);
        }
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        reached.release();
        Semaphore g = gate;
        try {
            if (g != null && !g.tryAcquire(120, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the test never opened the gate");
            }
            if (delayMillis > 0) {
                Thread.sleep(delayMillis);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (fail) {
            throw new FusionException("simulated failure: the GPU fell off the bus");
        }
        return delegate().nextToken(state, decoding);
    }
}
