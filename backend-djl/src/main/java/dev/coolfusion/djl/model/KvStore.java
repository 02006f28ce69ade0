package dev.coolfusion.djl.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Pre-allocated key/value storage for one token sequence, shared by the states that are prefixes of it.
 *
 * <p>Keys and values are {@code [layers, 1, capacity, kvHeads, headDim]}. A state uses positions {@code [0,
 * storeLength)}. The positions past the longest live user are free: a state that ends exactly there may append in
 * place (a "tail claim"); any other state that grows copies its prefix into a new store. This keeps states
 * persistent without copying the cache on every step.
 */
final class KvStore extends SharedKv {
    final NDArray[] layerKeys;
    final NDArray[] layerValues;
    final int capacity;

    KvStore(NDManager manager, NDArray keys, NDArray values, NDArray[] layerKeys, NDArray[] layerValues, int capacity) {
        super(manager, keys, values);
        this.layerKeys = layerKeys;
        this.layerValues = layerValues;
        this.capacity = capacity;
    }

    /** The number of leading positions some live state relies on. */
    int usedLength() {
        int max = 0;
        for (ModelState s : users) {
            max = Math.max(max, s.storeLength);
        }
        return max;
    }

    /** Whether {@code state} may append {@code tokens} positions in place. */
    boolean canAppend(ModelState state, int tokens) {
        return usedLength() == state.storeLength && state.storeLength + tokens <= capacity;
    }
}
