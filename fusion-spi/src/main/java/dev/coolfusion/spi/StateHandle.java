package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

/**
 * An opaque reference to a model state (for a transformer: its KV cache) owned by one {@link SourceModel}.
 *
 * <p>Only the backend that issued a handle can interpret it. The id is a plain string so that a handle can
 * cross a network unchanged. A handle is either <em>committed</em> (returned by {@link SourceModel#open} or
 * passed to {@link SourceModel#commit}) or <em>temporary</em> (returned by {@link SourceModel#nextToken} or
 * {@link SourceModel#score}). Every handle must eventually be passed to {@link SourceModel#release}.
 */
public record StateHandle(String id) {
    public StateHandle {
        requireNonNull(id, "id is null");
        if (id.isEmpty()) {
            throw new IllegalArgumentException("state handle id is empty");
        }
    }

    @Override
    public String toString() {
        return "state:" + id;
    }
}
