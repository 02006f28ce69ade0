package dev.coolfusion.djl.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * Keys and values of a batched forward that were not written into a store: {@code [layers, rows, tokens, kvHeads,
 * headDim]}. Each scored candidate's state refers to one row until it is extended (then the row is written into a
 * store) or released.
 */
final class KvSegment implements AutoCloseable {
    final NDManager manager;
    final NDArray keys;
    final NDArray values;
    final Set<ModelState> users = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    KvSegment(NDManager manager, NDArray keys, NDArray values) {
        this.manager = manager;
        this.keys = keys;
        this.values = values;
    }

    void removeUser(ModelState state) {
        users.remove(state);
        if (users.isEmpty()) {
            close();
        }
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            manager.close();
        }
    }
}
