package dev.coolfusion.djl.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Keys and values of a batched forward that were not written into a store: {@code [layers, rows, tokens, kvHeads,
 * headDim]}. Each scored candidate's state refers to one row until it is extended (then the row is written into a
 * store) or released.
 */
final class KvSegment extends SharedKv {
    KvSegment(NDManager manager, NDArray keys, NDArray values) {
        super(manager, keys, values);
    }
}
