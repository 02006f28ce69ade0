package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A {@link TextCodec} that forwards every call to another, for wrappers that cache or measure some calls and must
 * encode and decode exactly as the codec they wrap: override only what the wrapper changes. {@link #unwrap()} returns
 * the innermost codec, so a backend that needs a codec's concrete type still finds it.
 */
public abstract class ForwardingTextCodec implements TextCodec {
    private final TextCodec delegate;

    protected ForwardingTextCodec(TextCodec delegate) {
        this.delegate = requireNonNull(delegate, "delegate is null");
    }

    /** The codec this one forwards to. */
    protected final TextCodec delegate() {
        return delegate;
    }

    @Override
    public Encoded encode(String text) {
        return delegate.encode(text);
    }

    @Override
    public Encoded encodeContinuation(String text) {
        return delegate.encodeContinuation(text);
    }

    @Override
    public String decode(List<Integer> ids) {
        return delegate.decode(ids);
    }

    @Override
    public String decodeContinuation(List<Integer> ids) {
        return delegate.decodeContinuation(ids);
    }

    @Override
    public Set<Integer> endOfSequenceIds() {
        return delegate.endOfSequenceIds();
    }

    @Override
    public OptionalInt beginOfSequenceId() {
        return delegate.beginOfSequenceId();
    }

    @Override
    public boolean isSpecial(int id) {
        return delegate.isSpecial(id);
    }

    @Override
    public List<Integer> encodePrompt(String text) {
        return delegate.encodePrompt(text);
    }

    @Override
    public OptionalInt primaryEndOfSequenceId() {
        return delegate.primaryEndOfSequenceId();
    }

    @Override
    public Optional<ChatTemplate> chatTemplate() {
        return delegate.chatTemplate();
    }

    @Override
    public Optional<String> digest() {
        return delegate.digest();
    }

    @Override
    public TextCodec unwrap() {
        return delegate.unwrap();
    }

    @Override
    public String toString() {
        return delegate.toString();
    }
}
