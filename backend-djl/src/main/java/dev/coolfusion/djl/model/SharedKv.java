package dev.coolfusion.djl.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * Key/value arrays in their own {@link NDManager}, shared by the states that use them and freed when the last user
 * lets go (or on {@link #close()}).
 */
abstract class SharedKv implements AutoCloseable {
    final NDManager manager;
    final NDArray keys;
    final NDArray values;
    final Set<ModelState> users = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    SharedKv(NDManager manager, NDArray keys, NDArray values) {
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
