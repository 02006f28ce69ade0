package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A {@link SourceModel} that forwards every call, the default methods included, to another: for wrappers that count,
 * guard or intercept some calls. Override only what the wrapper changes; a method the SPI gains later is forwarded
 * here once instead of being silently answered by its default in every wrapper. {@link #close()} is not forwarded:
 * the wrapped model belongs to whoever made it.
 */
public abstract class ForwardingSourceModel implements SourceModel {
    private final SourceModel delegate;

    protected ForwardingSourceModel(SourceModel delegate) {
        this.delegate = requireNonNull(delegate, "delegate is null");
    }

    /** The model this one forwards to. */
    protected final SourceModel delegate() {
        return delegate;
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public TextCodec codec() {
        return delegate.codec();
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        return delegate.open(promptTokens);
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        return delegate.nextToken(state, decoding);
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        return delegate.score(state, candidates);
    }

    @Override
    public Optional<ProposedSegment> nextText(SegmentRequest request) {
        return delegate.nextText(request);
    }

    @Override
    public boolean canScore() {
        return delegate.canScore();
    }

    @Override
    public StateHandle append(StateHandle state, List<Integer> tokens) {
        return delegate.append(state, tokens);
    }

    @Override
    public void commit(StateHandle temporary) {
        delegate.commit(temporary);
    }

    @Override
    public void release(Collection<StateHandle> states) {
        delegate.release(states);
    }

    @Override
    public void commitAndRelease(StateHandle temporary, Collection<StateHandle> states) {
        delegate.commitAndRelease(temporary, states);
    }

    @Override
    public Optional<double[]> nllAtTemperatures(StateHandle state, List<Integer> tokens, double[] temperatures) {
        return delegate.nllAtTemperatures(state, tokens, temperatures);
    }

    @Override
    public OptionalInt maxContextTokens() {
        return delegate.maxContextTokens();
    }

    @Override
    public OptionalInt vocabularySize() {
        return delegate.vocabularySize();
    }

    @Override
    public String toString() {
        return delegate.toString();
    }
}
