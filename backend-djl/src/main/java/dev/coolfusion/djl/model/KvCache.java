package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The KV cache of one model: the stores and segments behind its states, their capacity growth and copying.
 *
 * <p>A {@link Sequence} is what a state's cache is: a prefix of a <em>store</em>, optionally followed by one row of a
 * <em>segment</em>. A store is pre-allocated key/value storage {@code [layers, 1, kvHeads, capacity, headDim]} (heads
 * first: the layout attention multiplies by, so that neither a decode step nor a gather copies it twice) for one
 * token sequence, shared by the sequences that are prefixes of it. The positions past its longest live sequence are
 * free: a sequence that ends exactly there may append in place (a "tail claim"); any other that grows copies its
 * prefix into a new store. This keeps states persistent without copying the cache on every step. A segment holds the
 * new keys and values of a batched forward ({@code [layers, rows, width, kvHeads, headDim]}) that were not written
 * into a store; each scored candidate's sequence refers to one row until it is extended (then the row is written into
 * a store) or released. Stores and segments live in their own {@link NDManager} and are freed when their last
 * sequence is released.
 *
 * <p>Not thread-safe: the owning model calls it under its lock.
 */
final class KvCache {
    private static final int CAPACITY_STEP = 64;

    private final NDManager manager;
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final DataType dtype;
    private final int maxContext;
    private final long gatherBytes;
    private final Copies copies = new Copies();
    private int liveStores;
    private int liveSegments;
    private long prefixCopies;

    /** A cache for a model with {@code cfg}'s shape, in sub-managers of {@code manager}. */
    KvCache(NDManager manager, ModelConfig cfg, DataType dtype, int maxContext, long gatherBytes) {
        this.gatherBytes = gatherBytes;
        this.manager = requireNonNull(manager, "manager is null");
        this.layers = cfg.numLayers();
        this.kvHeads = cfg.numKvHeads();
        this.headDim = cfg.headDim();
        this.dtype = requireNonNull(dtype, "dtype is null");
        this.maxContext = maxContext;
    }

    /**
     * The keys and values of one token sequence: the first {@code storeLength} positions of a store, then {@code
     * segmentLength} positions of one row of a segment (none if there is no segment). Only the cache changes it;
     * materializing the segment row changes the representation, never the content.
     */
    static final class Sequence {
        private Store store;
        private int storeLength;
        private Segment segment;
        private int segmentRow;
        private int segmentLength;

        private Sequence(Store store, int storeLength) {
            this.store = store;
            this.storeLength = storeLength;
            store.users.add(this);
        }

        /** How many tokens the sequence holds. */
        int length() {
            return storeLength + segmentLength;
        }

        /** Whether its keys and values were computed with longrope's long factors (false without longrope). */
        boolean longFactors() {
            return store.longFactors;
        }

        private void attach(Segment segment, int row, int length) {
            this.segment = segment;
            this.segmentRow = row;
            this.segmentLength = length;
            segment.users.add(this);
        }
    }

    // ------------------------------------------------------------------------------------------------- sequences

    /** An empty sequence in a new store with room for {@code tokens} positions and some growth. */
    Sequence start(int tokens) {
        return start(tokens, false);
    }

    /**
     * An empty sequence in a new store for keys and values computed with longrope's long ({@code true}) or short
     * factors.
     */
    Sequence start(int tokens, boolean longFactors) {
        return new Sequence(newStore(capacityFor(tokens), longFactors), 0);
    }

    /** What a forward after {@code s} attends to; {@code s} must be {@link #materialize materialized}. */
    Transformer.Past past(Sequence s) {
        if (s.segment != null) {
            throw new IllegalStateException("the sequence has a pending segment row; materialize it first");
        }
        return new Transformer.Past(s.store.layerKeys, s.store.layerValues, s.storeLength, s.store.longFactors);
    }

    /** Writes {@code s}'s pending segment row into a store: in place if its store's tail is free, else into a copy. */
    void materialize(Sequence s) {
        if (s.segment == null) {
            return;
        }
        Segment segment = s.segment;
        if (!s.store.canAppend(s, s.segmentLength)) {
            moveToNewStore(s, s.length() + 1);
        }
        copies.written(s.store, s.storeLength);
        writeSegment(segment, s.segmentRow, s.segmentLength, s.store, s.storeLength);
        s.storeLength += s.segmentLength;
        s.segment = null;
        s.segmentLength = 0;
        segment.removeUser(s);
    }

    /**
     * Makes room to append {@code tokens} positions in place after {@code s} (materialized): true if its store's tail
     * is free (moving {@code s} into a larger store if only the capacity is short), false if another sequence uses it.
     */
    boolean reserve(Sequence s, int tokens) {
        Store store = s.store;
        if (!store.canAppend(s, tokens)) {
            if (store.usedLength() != s.storeLength) {
                return false;
            }
            moveToNewStore(s, s.length() + tokens);
        }
        copies.written(s.store, s.storeLength); // the forward writes from there on
        return true;
    }

    /** {@code s} followed by {@code tokens} positions that a forward wrote into its store after a {@link #reserve}. */
    Sequence appended(Sequence s, int tokens) {
        return new Sequence(s.store, s.storeLength + tokens);
    }

    /**
     * One sequence per row of a forward's new keys and values: {@code s} followed by the first {@code lengths[r]}
     * positions of row {@code r}. The rows share one segment, freed with the last of them; if there are no rows, it is
     * freed at once.
     */
    List<Sequence> branched(Sequence s, Transformer.NewKv newKv, int[] lengths) {
        return branchedRows(Collections.nCopies(lengths.length, s), newKv, lengths);
    }

    /**
     * One sequence per row of a forward over several sequences' pasts ({@link #gather}): {@code bases.get(r)}
     * (materialized) followed by the first {@code lengths[r]} positions of row {@code r}. The rows share one segment,
     * freed with the last of them; if there are no rows, it is freed at once.
     */
    List<Sequence> branchedRows(List<Sequence> bases, Transformer.NewKv newKv, int[] lengths) {
        int[] rows = new int[lengths.length];
        Arrays.setAll(rows, r -> r);
        return branchedRows(bases, newKv, lengths, rows);
    }

    /**
     * One sequence per base: {@code bases.get(i)} (materialized) followed by the first {@code lengths[i]} positions of
     * row {@code rows[i]} of a forward's new keys and values (other rows of it are not kept).
     */
    List<Sequence> branchedRows(List<Sequence> bases, Transformer.NewKv newKv, int[] lengths, int[] rows) {
        if (bases.size() != lengths.length || rows.length != lengths.length) {
            throw new IllegalArgumentException(bases.size() + " bases for " + lengths.length + " lengths and "
                    + rows.length + " rows");
        }
        Segment segment = new Segment(newKv);
        List<Sequence> out = new ArrayList<>(lengths.length);
        for (int i = 0; i < lengths.length; i++) {
            Sequence base = bases.get(i);
            Sequence next = new Sequence(base.store, base.storeLength);
            next.attach(segment, rows[i], lengths[i]);
            out.add(next);
        }
        if (out.isEmpty()) {
            segment.close();
        }
        return out;
    }

    /**
     * The pasts of several materialized sequences side by side, for one forward whose row {@code r} continues {@code
     * sequences.get(r)}: per layer {@code [rows, kvHeads, longest, headDim]}, each row its store's first positions
     * (past its own length: whatever the store holds there, finite, or zeros; the forward masks them). A store that
     * several rows continue is read once. All sequences must have been computed with the same longrope factors. Close
     * the result after the forward.
     */
    Gathered gather(List<Sequence> sequences) {
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("nothing to gather");
        }
        int rows = sequences.size();
        int[] lengths = new int[rows];
        boolean longFactors = sequences.get(0).longFactors();
        for (int r = 0; r < rows; r++) {
            Sequence s = sequences.get(r);
            if (s.segment != null) {
                throw new IllegalStateException("sequence " + r + " has a pending segment row; materialize it first");
            }
            if (s.longFactors() != longFactors) {
                throw new IllegalArgumentException("sequences computed with different longrope factors cannot be gathered");
            }
            lengths[r] = s.storeLength;
        }
        int longest = Arrays.stream(lengths).max().orElseThrow();
        NDManager m = manager.newSubManager();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Map<Store, NDArray[]> read = new IdentityHashMap<>();
            NDList keys = new NDList(rows);
            NDList values = new NDList(rows);
            for (Sequence s : sequences) {
                NDArray[] kv = read.computeIfAbsent(s.store, store -> leading(store, longest));
                keys.add(kv[0]);
                values.add(kv[1]);
            }
            // One copy into the layout attention reads without another: [layers, rows, kvHeads, longest, headDim].
            NDArray k = Tensors.keep(NDArrays.concat(keys, 1), m);
            NDArray v = Tensors.keep(NDArrays.concat(values, 1), m);
            NDArray[] lk = new NDArray[layers];
            NDArray[] lv = new NDArray[layers];
            for (int l = 0; l < layers; l++) {
                lk[l] = Tensors.keep(k.get(l), m);
                lv[l] = Tensors.keep(v.get(l), m);
            }
            return new Gathered(m, Transformer.Past.rows(lk, lv, lengths, longFactors));
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * The pasts of several materialized sequences in distinct stores, for one forward, from copies kept across
     * forwards: each store's leading positions sit in a row of a reused buffer, and only what was written to the
     * store since it was copied is copied again (a decode step: one position per row). Row {@code rowOf[i]} of the
     * past holds {@code sequences.get(i)}; rows of the past that no sequence uses ({@code span} may exceed the
     * sequences) hold one position of something finite, for a row of padding. Empty if the sequences share a store,
     * or the buffer would exceed the gather limit; use {@link #gather} then.
     */
    java.util.Optional<Reused> gatherReusing(List<Sequence> sequences) {
        return copies.gather(sequences);
    }

    /** See {@link #gatherReusing}; close it after the forward (its views, not the copies). */
    record Reused(NDManager views, Transformer.Past past, int[] rowOf) implements AutoCloseable {
        @Override
        public void close() {
            views.close();
        }
    }

    /**
     * Copies of stores' leading positions kept for {@link #gatherReusing}: keys and values {@code [layers, rows,
     * kvHeads, capacity, headDim]}, a row per store with how many positions are valid, reset when it must grow or
     * when rows no forward uses pile up.
     */
    private final class Copies {
        private NDManager arrays;
        private NDArray keys;
        private NDArray values;
        private int rows;
        private int capacity;
        private final Map<Store, Integer> rowOfStore = new IdentityHashMap<>();
        private Store[] storeOfRow = new Store[0];
        private int[] valid = new int[0];
        /** The round that last used each row (a round: one gather). */
        private long[] lastUse = new long[0];
        private long round;

        /** A write to {@code store} from position {@code from} on: its copy is valid before it only. */
        void written(Store store, int from) {
            Integer row = rowOfStore.get(store);
            if (row != null) {
                valid[row] = Math.min(valid[row], from);
            }
        }

        /** A freed store: its row is free. */
        void forget(Store store) {
            Integer row = rowOfStore.remove(store);
            if (row != null) {
                storeOfRow[row] = null;
                valid[row] = 0;
            }
        }

        java.util.Optional<Reused> gather(List<Sequence> sequences) {
            int n = sequences.size();
            int longest = 0;
            boolean longFactors = sequences.get(0).longFactors();
            Map<Store, Boolean> distinct = new IdentityHashMap<>();
            for (Sequence s : sequences) {
                if (s.segment != null) {
                    throw new IllegalStateException("a sequence has a pending segment row; materialize it first");
                }
                if (s.longFactors() != longFactors || distinct.put(s.store, true) != null) {
                    return java.util.Optional.empty();
                }
                longest = Math.max(longest, s.storeLength);
            }
            // Room: grown (never shrunk) to the longest past and twice the rows, within the gather limit.
            if (keys == null || longest > capacity || n > rows) {
                int newCapacity = Math.max(capacity, Math.min(maxContext, ((longest + longest / 2 + 63) / 64) * 64));
                long perRow = 2L * layers * kvHeads * (long) newCapacity * headDim * dtype.getNumOfBytes();
                int newRows = (int) Math.min(Math.max(rows, 2L * n), gatherBytes / perRow);
                if (newRows < n) {
                    return java.util.Optional.empty();
                }
                reset(newRows, newCapacity);
            }
            round++;
            int[] rowOf = assign(sequences);
            int span = 0;
            for (int r : rowOf) {
                span = Math.max(span, r + 1);
            }
            if (span > n + n / 2 + 1) {
                // The rows in use are scattered among rows of stores no longer decoding: start them over from row 0
                // (one full copy of these pasts) rather than compute many rows of padding in every forward.
                forgetAll();
                rowOf = assign(sequences);
                span = n;
            }
            // Copy what each row lacks: positions [valid, length) of its store.
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                for (int i = 0; i < n; i++) {
                    Sequence s = sequences.get(i);
                    int r = rowOf[i];
                    if (valid[r] < s.storeLength) {
                        long[] from = {0, 0, 0, valid[r], 0};
                        long[] to = {layers, 1, kvHeads, s.storeLength, headDim};
                        long[] at = {0, r, 0, valid[r], 0};
                        long[] atEnd = {layers, r + 1, kvHeads, s.storeLength, headDim};
                        Tensors.write(keys, Tensors.slice(s.store.keys, from, to), at, atEnd);
                        Tensors.write(values, Tensors.slice(s.store.values, from, to), at, atEnd);
                        valid[r] = s.storeLength;
                    }
                }
            }
            int[] lengths = new int[span];
            java.util.Arrays.fill(lengths, 1); // rows of padding attend to one (finite) position
            for (int i = 0; i < n; i++) {
                lengths[rowOf[i]] = sequences.get(i).storeLength;
            }
            int width = java.util.Arrays.stream(lengths).max().orElseThrow();
            // Views of the buffer, per layer [span, kvHeads, width, headDim], in a manager closed after the forward.
            NDManager views = manager.newSubManager();
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                long[] min = {0, 0, 0, 0, 0};
                long[] max = {layers, span, kvHeads, width, headDim};
                NDArray k = Tensors.slice(keys, min, max);
                NDArray v = Tensors.slice(values, min, max);
                NDArray[] lk = new NDArray[layers];
                NDArray[] lv = new NDArray[layers];
                for (int l = 0; l < layers; l++) {
                    lk[l] = Tensors.keep(k.get(l), views);
                    lv[l] = Tensors.keep(v.get(l), views);
                }
                return java.util.Optional.of(new Reused(views, Transformer.Past.rows(lk, lv, lengths, longFactors),
                        rowOf));
            } catch (RuntimeException e) {
                views.close();
                throw e;
            }
        }

        /**
         * Row of each sequence's store: the row it has (used in this round now), else a free row, else the row least
         * recently used by any round; the lowest first.
         */
        private int[] assign(List<Sequence> sequences) {
            int[] rowOf = new int[sequences.size()];
            for (int i = 0; i < rowOf.length; i++) {
                Integer row = rowOfStore.get(sequences.get(i).store);
                rowOf[i] = row == null ? -1 : row;
                if (row != null) {
                    lastUse[row] = round;
                }
            }
            for (int i = 0; i < rowOf.length; i++) {
                if (rowOf[i] >= 0) {
                    continue;
                }
                int pick = -1;
                for (int r = 0; r < rows; r++) {
                    if (storeOfRow[r] == null) {
                        pick = r;
                        break;
                    }
                    if (lastUse[r] != round && (pick < 0 || lastUse[r] < lastUse[pick])) {
                        pick = r;
                    }
                }
                if (storeOfRow[pick] != null) {
                    rowOfStore.remove(storeOfRow[pick]);
                }
                Store store = sequences.get(i).store;
                storeOfRow[pick] = store;
                rowOfStore.put(store, pick);
                valid[pick] = 0;
                lastUse[pick] = round;
                rowOf[i] = pick;
            }
            return rowOf;
        }

        private void forgetAll() {
            rowOfStore.clear();
            java.util.Arrays.fill(storeOfRow, null);
            java.util.Arrays.fill(valid, 0);
        }

        private void reset(int newRows, int newCapacity) {
            // Forget everything first: if the allocation fails, nothing refers to the closed arrays.
            NDManager old = arrays;
            arrays = null;
            keys = null;
            values = null;
            rows = 0;
            capacity = 0;
            rowOfStore.clear();
            storeOfRow = new Store[0];
            valid = new int[0];
            lastUse = new long[0];
            if (old != null) {
                old.close();
            }
            NDManager fresh = manager.newSubManager();
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                Shape shape = new Shape(layers, newRows, kvHeads, newCapacity, headDim);
                keys = Tensors.keep(fresh.zeros(shape, dtype), fresh);
                values = Tensors.keep(fresh.zeros(shape, dtype), fresh);
            } catch (RuntimeException e) {
                keys = null;
                values = null;
                fresh.close();
                throw e;
            }
            arrays = fresh;
            rows = newRows;
            capacity = newCapacity;
            storeOfRow = new Store[newRows];
            valid = new int[newRows];
            lastUse = new long[newRows];
        }

        /** Bytes the copies hold (0 before the first batched decode step). */
        long bytes() {
            return keys == null ? 0 : 2L * layers * rows * kvHeads * (long) capacity * headDim * dtype.getNumOfBytes();
        }
    }

    /** Several sequences' pasts for one forward ({@link #gather}), in their own manager. */
    record Gathered(NDManager arrays, Transformer.Past past) implements AutoCloseable {
        @Override
        public void close() {
            arrays.close();
        }
    }

    /**
     * A store's first {@code n} positions of keys and values as views {@code [layers, 1, kvHeads, n, headDim]},
     * zero-padded.
     */
    private NDArray[] leading(Store store, int n) {
        int have = Math.min(store.capacity, n);
        long[] min = {0, 0, 0, 0, 0};
        long[] max = {layers, 1, kvHeads, have, headDim};
        NDArray k = Tensors.slice(store.keys, min, max);
        NDArray v = Tensors.slice(store.values, min, max);
        if (have < n) {
            NDArray zeros = k.getManager().zeros(new Shape(layers, 1, kvHeads, n - have, headDim), dtype);
            k = k.concat(zeros, 3);
            v = v.concat(zeros, 3);
        }
        return new NDArray[] {k, v};
    }

    /** The first {@code length} positions of {@code s} (materialized, {@code length <= s.length()}), sharing its store. */
    Sequence prefix(Sequence s, int length) {
        if (s.segment != null || length > s.storeLength || length < 0) {
            throw new IllegalArgumentException("a prefix of " + length + " positions of a sequence of " + s.length()
                    + (s.segment != null ? " with a pending segment row" : ""));
        }
        return new Sequence(s.store, length);
    }

    /** A sequence with the same keys and values as {@code s}, sharing its store and segment. */
    Sequence copy(Sequence s) {
        Sequence copy = new Sequence(s.store, s.storeLength);
        if (s.segment != null) {
            copy.attach(s.segment, s.segmentRow, s.segmentLength);
        }
        return copy;
    }

    /** Lets go of {@code s}: its store and segment are freed when no other sequence uses them. */
    void release(Sequence s) {
        if (s.segment != null) {
            s.segment.removeUser(s);
            s.segment = null;
        }
        s.store.removeUser(s);
    }

    // ------------------------------------------------------------------------------------------------ monitoring

    /** Stores not yet freed. */
    int liveStores() {
        return liveStores;
    }

    /** Segments not yet freed. */
    int liveSegments() {
        return liveSegments;
    }

    /** Bytes of the copies that batched decode steps keep across forwards ({@link #gatherReusing}). */
    long copyBytes() {
        return copies.bytes();
    }

    /** How often a sequence's prefix was copied into a new store (capacity growth or a taken tail). */
    long prefixCopies() {
        return prefixCopies;
    }

    // ------------------------------------------------------------------------------------------------- internals

    private int capacityFor(int needed) {
        int extra = Math.max(CAPACITY_STEP, needed / 2);
        long cap = ((long) needed + extra + CAPACITY_STEP - 1) / CAPACITY_STEP * CAPACITY_STEP;
        return (int) Math.min(maxContext, cap);
    }

    private void moveToNewStore(Sequence s, int needed) {
        Store old = s.store;
        Store fresh = newStore(capacityFor(needed), old.longFactors);
        prefixCopies++;
        try {
            copyPrefix(old, fresh, s.storeLength);
        } catch (RuntimeException e) {
            fresh.close();
            throw e;
        }
        s.store = fresh;
        fresh.users.add(s);
        old.removeUser(s);
    }

    private Store newStore(int capacity, boolean longFactors) {
        NDManager m = manager.newSubManager();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Shape shape = new Shape(layers, 1, kvHeads, capacity, headDim);
            // Zeros, not uninitialized memory: a gather reads past a sequence's end, and masked scores must be finite.
            NDArray k = Tensors.keep(m.zeros(shape, dtype), m);
            NDArray v = Tensors.keep(m.zeros(shape, dtype), m);
            NDArray[] lk = new NDArray[layers];
            NDArray[] lv = new NDArray[layers];
            for (int l = 0; l < layers; l++) {
                lk[l] = Tensors.keep(k.get(l), m);
                lv[l] = Tensors.keep(v.get(l), m);
            }
            return new Store(m, k, v, lk, lv, capacity, longFactors);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Copies positions {@code [0, n)} of every layer from one store to another. */
    private void copyPrefix(Store from, Store to, int n) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] min = {0, 0, 0, 0, 0};
            long[] max = {layers, 1, kvHeads, n, headDim};
            Tensors.write(to.keys, Tensors.slice(from.keys, min, max), min, max);
            Tensors.write(to.values, Tensors.slice(from.values, min, max), min, max);
        }
    }

    /** Writes {@code length} positions of one segment row into a store at position {@code at}. */
    private void writeSegment(Segment segment, int row, int length, Store to, int at) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] srcMin = {0, row, 0, 0, 0};
            long[] srcMax = {layers, row + 1, length, kvHeads, headDim};
            long[] dstMin = {0, 0, 0, at, 0};
            long[] dstMax = {layers, 1, kvHeads, at + length, headDim};
            // The segment is position-major ([layers, rows, width, kvHeads, headDim]); the store heads first.
            Tensors.write(to.keys, Tensors.slice(segment.kv.keys(), srcMin, srcMax).transpose(0, 1, 3, 2, 4), dstMin,
                    dstMax);
            Tensors.write(to.values, Tensors.slice(segment.kv.values(), srcMin, srcMax).transpose(0, 1, 3, 2, 4), dstMin,
                    dstMax);
        }
    }

    /** Arrays in their own manager, shared by the sequences that use them and freed when the last lets go. */
    private abstract class Shared {
        final NDManager arrays;
        final Set<Sequence> users = Collections.newSetFromMap(new IdentityHashMap<>());
        private boolean closed;

        Shared(NDManager arrays) {
            this.arrays = arrays;
        }

        void removeUser(Sequence s) {
            users.remove(s);
            if (users.isEmpty()) {
                close();
            }
        }

        void close() {
            if (!closed) {
                closed = true;
                arrays.close();
                freed();
            }
        }

        abstract void freed();
    }

    /** Pre-allocated keys and values for one token sequence; {@link #layerKeys} and {@link #layerValues} are views. */
    private final class Store extends Shared {
        final NDArray keys;
        final NDArray values;
        final NDArray[] layerKeys;
        final NDArray[] layerValues;
        final int capacity;
        /** Whether its content was computed with longrope's long factors. */
        final boolean longFactors;

        Store(NDManager arrays, NDArray keys, NDArray values, NDArray[] layerKeys, NDArray[] layerValues,
                int capacity, boolean longFactors) {
            super(arrays);
            this.longFactors = longFactors;
            this.keys = keys;
            this.values = values;
            this.layerKeys = layerKeys;
            this.layerValues = layerValues;
            this.capacity = capacity;
            liveStores++;
        }

        /** The number of leading positions some live sequence relies on. */
        int usedLength() {
            int max = 0;
            for (Sequence s : users) {
                max = Math.max(max, s.storeLength);
            }
            return max;
        }

        /** Whether {@code s} may append {@code tokens} positions in place. */
        boolean canAppend(Sequence s, int tokens) {
            return usedLength() == s.storeLength && s.storeLength + tokens <= capacity;
        }

        @Override
        void freed() {
            liveStores--;
            copies.forget(this);
        }
    }

    /** The new keys and values of one batched forward, one row per branched sequence. */
    private final class Segment extends Shared {
        final Transformer.NewKv kv;

        Segment(Transformer.NewKv kv) {
            super(kv.manager());
            this.kv = kv;
            liveSegments++;
        }

        @Override
        void freed() {
            liveSegments--;
        }
    }
}
