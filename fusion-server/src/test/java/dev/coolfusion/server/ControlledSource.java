package dev.coolfusion.server;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * A real source whose {@code nextToken} a test can slow down, hold (until {@link #open()}ed) or make fail, to drive the
 * server's queue, cancellation and error paths deterministically.
 */
final class ControlledSource implements SourceModel {
    private final SourceModel inner;
    volatile long delayMillis;
    volatile boolean fail;
    private volatile Semaphore gate;
    /** Released once per nextToken that reached the gate, so a test can wait until a generation is running. */
    final Semaphore reached = new Semaphore(0);

    ControlledSource(SourceModel inner) {
        this.inner = inner;
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
    public String name() {
        return inner.name();
    }

    @Override
    public TextCodec codec() {
        return inner.codec();
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        return inner.open(promptTokens);
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
        return inner.nextToken(state, decoding);
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        return inner.score(state, candidates);
    }

    @Override
    public void commit(StateHandle temporary) {
        inner.commit(temporary);
    }

    @Override
    public void release(Collection<StateHandle> states) {
        inner.release(states);
    }

    @Override
    public void commitAndRelease(StateHandle temporary, Collection<StateHandle> states) {
        inner.commitAndRelease(temporary, states);
    }

    @Override
    public Optional<double[]> nllAtTemperatures(StateHandle state, List<Integer> tokens, double[] temperatures) {
        return inner.nllAtTemperatures(state, tokens, temperatures);
    }

    @Override
    public OptionalInt maxContextTokens() {
        return inner.maxContextTokens();
    }
}
