package dev.coolfusion.inference;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.StateHandle;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The states of a source whose server keeps none a client can extend: a state is its token sequence, kept here, and
 * every request sends it whole (the server's prefix cache spares what it can).
 */
final class TokenStates {
    private final String model;
    private final Map<String, List<Integer>> states = new HashMap<>();
    private final AtomicLong ids = new AtomicLong();

    TokenStates(String model) {
        this.model = model;
    }

    synchronized StateHandle issue(List<Integer> tokens) {
        String id = Long.toString(ids.incrementAndGet());
        states.put(id, List.copyOf(tokens));
        return new StateHandle(id);
    }

    synchronized List<Integer> tokens(StateHandle state) {
        requireNonNull(state, "state is null");
        List<Integer> tokens = states.get(state.id());
        if (tokens == null) {
            throw new FusionException("model '" + model + "': unknown state " + state + " (released, or from another model)");
        }
        return tokens;
    }

    synchronized void release(Collection<StateHandle> handles) {
        requireNonNull(handles, "handles is null");
        handles.forEach(h -> states.remove(h.id()));
    }

    synchronized int live() {
        return states.size();
    }
}
