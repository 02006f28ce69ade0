package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A local Hugging Face checkpoint (Llama 2/3, Mistral, Qwen2, Phi-3 in safetensors) as a {@link SourceModel} on
 * DJL's PyTorch engine, with a real KV cache behind every state handle.
 *
 * <p>Create one with {@link #load(Path, DjlModelOptions)}. States are persistent and share their cache: a state
 * that ends where its storage's used part ends appends in place, any other copies its prefix first. Scoring runs all
 * candidates in one batched forward whose new keys and values are kept aside until a candidate's state is extended.
 * Each state remembers its next-token log-probabilities, so that nothing is recomputed.
 *
 * <p>All methods are synchronized: different models may run on different threads, one model serves one call at a
 * time.
 */
public final class DjlSourceModel implements SourceModel {
    private static final int CAPACITY_STEP = 64;

    private final String name;
    private final Path dir;
    private final HfTextCodec codec;
    private final Transformer transformer;
    private final int maxContext;
    private final Map<String, ModelState> states = new HashMap<>();
    private long nextId;
    private long storeCopies;
    private boolean closed;

    private DjlSourceModel(String name, Path dir, HfTextCodec codec, Transformer transformer) {
        this.name = name;
        this.dir = dir;
        this.codec = codec;
        this.transformer = transformer;
        this.maxContext = transformer.maxContext;
    }

    /**
     * Loads a Hugging Face model folder: {@code config.json}, {@code model.safetensors} or shards with
     * {@code model.safetensors.index.json}, {@code tokenizer.json} and optionally {@code generation_config.json}.
     */
    public static DjlSourceModel load(Path dir, DjlModelOptions options) {
        requireNonNull(dir, "dir is null");
        requireNonNull(options, "options is null");
        if (!Files.isDirectory(dir)) {
            throw new FusionException("model folder " + dir.toAbsolutePath() + " does not exist or is not a folder");
        }
        ModelConfig cfg = ModelConfig.read(dir);
        int limit = cfg.maxPositions();
        if (cfg.slidingWindow().isPresent()) {
            limit = Math.min(limit, cfg.slidingWindow().getAsInt());
        }
        int maxContext = limit;
        if (options.maxContext().isPresent()) {
            int wanted = options.maxContext().getAsInt();
            if (wanted > limit) {
                throw new FusionException("max context " + wanted + " exceeds what " + dir.getFileName() + " supports: "
                        + limit + " (max_position_embeddings " + cfg.maxPositions()
                        + (cfg.slidingWindow().isPresent() ? ", sliding_window " + cfg.slidingWindow().getAsInt() : "")
                        + ")");
            }
            maxContext = wanted;
        }
        if (options.dtype() == ModelDtype.BFLOAT16) {
            // DJL 0.36's PyTorch JNI aborts the whole JVM on any bfloat16 tensor (toType, zeros, create), so refuse it.
            throw new FusionException("dtype bfloat16 is not usable with DJL 0.36's PyTorch engine (its native layer aborts"
                    + " the JVM on bfloat16 tensors); use float16 (GPU) or float32. bfloat16 checkpoints load fine: their"
                    + " weights are widened exactly.");
        }
        Device device = options.djlDevice();
        Engine engine = Engine.getEngine("PyTorch");
        if (device.isGpu() && device.getDeviceId() >= engine.getGpuCount()) {
            throw new FusionException("device " + options.device() + " requested, but the PyTorch engine sees "
                    + engine.getGpuCount() + " GPU(s); the default build bundles the CPU libtorch, see backend-djl/README.md"
                    + " for running on CUDA");
        }
        SafetensorsReader reader = SafetensorsReader.open(dir);
        HfTextCodec codec = HfTextCodec.load(dir); // end-of-sequence ids from generation_config.json / config.json
        NDManager manager = NDManager.newBaseManager(device, "PyTorch");
        try {
            Transformer transformer = Transformer.load(cfg, reader, manager, options.dtype(), maxContext,
                    options.calibrationTemperature());
            String modelName = options.name().orElse(dir.toAbsolutePath().normalize().getFileName().toString());
            return new DjlSourceModel(modelName, dir, codec, transformer);
        } catch (RuntimeException e) {
            manager.close();
            codec.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public TextCodec codec() {
        return codec;
    }

    /** The folder the model was loaded from. */
    public Path directory() {
        return dir;
    }

    /** The model's vocabulary size (rows of its output projection). */
    public int vocabularySize() {
        return transformer.cfg.vocabSize();
    }

    @Override
    public OptionalInt maxContextTokens() {
        return OptionalInt.of(maxContext);
    }

    @Override
    public synchronized StateHandle open(List<Integer> promptTokens) {
        requireNonNull(promptTokens, "promptTokens is null");
        checkOpen();
        if (promptTokens.isEmpty()) {
            throw new FusionException(name + ": the prompt is empty; it needs at least one token (e.g. BOS)");
        }
        if (promptTokens.size() > maxContext) {
            throw new FusionException(name + ": the prompt has " + promptTokens.size() + " tokens, more than the max context of "
                    + maxContext + " tokens; shorten the prompt (nothing is truncated silently)");
        }
        long[] ids = toIds(promptTokens);
        KvStore store = transformer.newStore(capacityFor(ids.length));
        ModelState state = null;
        try {
            Transformer.Output out = transformer.forward(store, 0, ids, 1, ids.length, new int[] {ids.length}, true,
                    false, false);
            state = register(new ModelState(newId(), store, ids.length, out.lastLogProbs()[0]));
            state.committed = true;
            return new StateHandle(state.id);
        } finally {
            if (state == null) {
                store.close();
            }
        }
    }

    @Override
    public synchronized TokenStep nextToken(StateHandle handle, Decoding decoding) {
        requireNonNull(decoding, "decoding is null");
        ModelState state = lookup(handle);
        int token = Sampler.choose(state.logProbs, decoding);
        ModelState next = extend(state, token);
        return new TokenStep(token, state.logProbs[token], new StateHandle(next.id));
    }

    @Override
    public synchronized List<ScoredTokens> score(StateHandle handle, List<List<Integer>> candidates) {
        requireNonNull(candidates, "candidates is null");
        ModelState state = lookup(handle);
        List<Integer> rows = new ArrayList<>();
        int longest = 0;
        for (int i = 0; i < candidates.size(); i++) {
            List<Integer> c = requireNonNull(candidates.get(i), "candidate " + i + " is null");
            if (!c.isEmpty()) {
                toIds(c);
                if (state.length() + c.size() > maxContext) {
                    throw new FusionException(name + ": candidate " + i + " (" + c.size() + " tokens) after " + state.length()
                            + " tokens exceeds the max context of " + maxContext + " tokens");
                }
                rows.add(i);
                longest = Math.max(longest, c.size());
            }
        }
        List<ScoredTokens> results = new ArrayList<>(candidates.size());
        for (int i = 0; i < candidates.size(); i++) {
            results.add(null);
        }
        if (!rows.isEmpty()) {
            materialize(state);
            int b = rows.size();
            long[] ids = new long[b * longest];
            int[] lengths = new int[b];
            for (int r = 0; r < b; r++) {
                List<Integer> c = candidates.get(rows.get(r));
                lengths[r] = c.size();
                for (int t = 0; t < c.size(); t++) {
                    ids[r * longest + t] = c.get(t);
                }
            }
            boolean append = b == 1 && reserve(state, lengths[0]);
            Transformer.Output out = transformer.forward(state.store, state.storeLength, ids, b, longest, lengths, append,
                    true, false);
            List<ModelState> created = new ArrayList<>();
            try {
                for (int r = 0; r < b; r++) {
                    List<Integer> c = candidates.get(rows.get(r));
                    List<Double> lps = new ArrayList<>(c.size());
                    lps.add((double) state.logProbs[c.get(0)]);
                    for (int t = 0; t + 1 < c.size(); t++) {
                        lps.add((double) out.targetLogProbs()[r * longest + t]);
                    }
                    ModelState temp;
                    if (append) {
                        temp = new ModelState(newId(), state.store, state.storeLength + c.size(), out.lastLogProbs()[r]);
                    } else {
                        temp = new ModelState(newId(), state.store, state.storeLength, out.lastLogProbs()[r]);
                        temp.attachSegment(out.segment(), r, c.size());
                    }
                    created.add(temp);
                    results.set(rows.get(r), new ScoredTokens(lps, new StateHandle(register(temp).id)));
                }
            } catch (RuntimeException e) {
                created.forEach(this::drop);
                if (out.segment() != null) {
                    out.segment().close();
                }
                throw e;
            }
        }
        for (int i = 0; i < candidates.size(); i++) {
            if (results.get(i) == null) {
                results.set(i, new ScoredTokens(List.of(), new StateHandle(register(copyOf(state)).id)));
            }
        }
        return results;
    }

    /** One forward over {@code tokens} (without keeping its cache), every temperature from its logits. */
    @Override
    public synchronized Optional<double[]> nllAtTemperatures(StateHandle handle, List<Integer> tokens,
            double[] temperatures) {
        requireNonNull(tokens, "tokens is null");
        requireNonNull(temperatures, "temperatures is null");
        for (double t : temperatures) {
            if (!(t > 0) || Double.isInfinite(t)) {
                throw new IllegalArgumentException("temperatures must be positive and finite, got " + t);
            }
        }
        ModelState state = lookup(handle);
        double[] nll = new double[temperatures.length];
        if (tokens.isEmpty()) {
            return Optional.of(nll);
        }
        long[] ids = toIds(tokens);
        if (state.length() + ids.length > maxContext) {
            throw new FusionException(name + ": " + ids.length + " tokens after " + state.length()
                    + " exceed the max context of " + maxContext + " tokens");
        }
        // The first token's distribution is the state's (already calibrated) log-probs; the rest come from one
        // forward, tempered by the engine next to the logits.
        float[] first = state.logProbs;
        double max = Double.NEGATIVE_INFINITY;
        for (float lp : first) {
            max = Math.max(max, lp);
        }
        for (int i = 0; i < temperatures.length; i++) {
            double sum = 0;
            for (float lp : first) {
                sum += Math.exp((lp - max) / temperatures[i]);
            }
            nll[i] = (max - first[tokens.get(0)]) / temperatures[i] + Math.log(sum);
        }
        if (ids.length > 1) {
            materialize(state);
            Transformer.Output out = transformer.forward(state.store, state.storeLength, ids, 1, ids.length,
                    new int[] {ids.length}, false, true, false, temperatures);
            out.segment().close();
            for (int i = 0; i < temperatures.length; i++) {
                nll[i] += out.temperedNll()[i];
            }
        }
        return Optional.of(nll);
    }

    @Override
    public synchronized void commit(StateHandle temporary) {
        lookup(temporary).committed = true;
    }

    @Override
    public synchronized void release(Collection<StateHandle> handles) {
        requireNonNull(handles, "handles is null");
        for (StateHandle h : handles) {
            if (h == null) {
                continue;
            }
            ModelState s = states.remove(h.id());
            if (s != null) {
                drop(s);
            }
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (ModelState s : new ArrayList<>(states.values())) {
            drop(s);
        }
        states.clear();
        transformer.close();
        codec.close();
    }

    @Override
    public String toString() {
        return "DjlSourceModel[" + name + ", " + transformer.cfg.architecture().hfName + ", " + transformer.device + ", "
                + transformer.dtype + "]";
    }

    // ------------------------------------------------------------------------------------------- package-private

    /** Appends a given token (no sampling): the cache path the tests compare with a full forward. */
    synchronized StateHandle append(StateHandle handle, int token) {
        ModelState state = lookup(handle);
        toIds(List.of(token));
        return new StateHandle(extend(state, token).id);
    }

    /** The next-token log-probabilities a state remembers. */
    synchronized float[] logProbs(StateHandle handle) {
        return lookup(handle).logProbs.clone();
    }

    /** Raw logits of every position of one sequence from a single forward without a prior cache. */
    synchronized float[] fullForwardLogits(List<Integer> tokens) {
        checkOpen();
        long[] ids = toIds(tokens);
        try (KvStore store = transformer.newStore(ids.length)) {
            return transformer.forward(store, 0, ids, 1, ids.length, new int[] {ids.length}, true, true, true).logits();
        }
    }

    Transformer transformer() {
        return transformer;
    }

    /** How many state handles are open (not yet released): for monitoring and leak checks. */
    public synchronized int liveStates() {
        return states.size();
    }

    /** How many engine arrays this model holds (weights, caches, scratch): for monitoring native memory. */
    public synchronized int managedArrays() {
        return transformer.manager.getManagedArrays().size();
    }

    /** Live states, stores, segments and managed arrays, for leak tests. */
    synchronized Usage usage() {
        Set<KvStore> stores = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        Set<KvSegment> segments = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (ModelState s : states.values()) {
            stores.add(s.store);
            if (s.segment != null) {
                segments.add(s.segment);
            }
        }
        return new Usage(states.size(), stores.size(), segments.size(), transformer.manager.getManagedArrays().size());
    }

    /** How often a state's cache prefix was copied into a new store (capacity growth or a taken tail). */
    synchronized long storeCopies() {
        return storeCopies;
    }

    record Usage(int states, int stores, int segments, int managedArrays) {}

    // ---------------------------------------------------------------------------------------------------- internals

    private ModelState extend(ModelState state, int token) {
        if (state.length() + 1 > maxContext) {
            throw new FusionException(name + ": the context is full (" + state.length() + " of " + maxContext
                    + " tokens); no further token fits");
        }
        materialize(state);
        long[] ids = {token};
        int[] lengths = {1};
        if (reserve(state, 1)) {
            Transformer.Output out = transformer.forward(state.store, state.storeLength, ids, 1, 1, lengths, true, false,
                    false);
            return register(new ModelState(newId(), state.store, state.storeLength + 1, out.lastLogProbs()[0]));
        }
        Transformer.Output out = transformer.forward(state.store, state.storeLength, ids, 1, 1, lengths, false, false,
                false);
        ModelState next = new ModelState(newId(), state.store, state.storeLength, out.lastLogProbs()[0]);
        next.attachSegment(out.segment(), 0, 1);
        return register(next);
    }

    /**
     * Makes room to append {@code tokens} positions in place after {@code state}: true if its store's tail is free
     * (moving the state into a larger store if only the capacity is short), false if another state uses the tail.
     */
    private boolean reserve(ModelState state, int tokens) {
        KvStore store = state.store;
        if (store.canAppend(state, tokens)) {
            return true;
        }
        if (store.usedLength() != state.storeLength) {
            return false;
        }
        moveToNewStore(state, state.length() + tokens);
        return true;
    }

    /** Writes a pending segment row into a store, in place when the tail is free, else into a copy. */
    private void materialize(ModelState state) {
        if (state.segment == null) {
            return;
        }
        KvSegment segment = state.segment;
        if (!state.store.canAppend(state, state.segmentLength)) {
            moveToNewStore(state, state.length() + 1);
        }
        transformer.writeSegment(segment, state.segmentRow, state.segmentLength, state.store, state.storeLength);
        state.storeLength += state.segmentLength;
        state.segment = null;
        state.segmentLength = 0;
        segment.removeUser(state);
    }

    private void moveToNewStore(ModelState state, int needed) {
        KvStore old = state.store;
        KvStore fresh = transformer.newStore(capacityFor(needed));
        storeCopies++;
        try {
            transformer.copyPrefix(old, fresh, state.storeLength);
        } catch (RuntimeException e) {
            fresh.close();
            throw e;
        }
        state.store = fresh;
        fresh.users.add(state);
        old.removeUser(state);
    }

    private int capacityFor(int needed) {
        int extra = Math.max(CAPACITY_STEP, needed / 2);
        long cap = ((long) needed + extra + CAPACITY_STEP - 1) / CAPACITY_STEP * CAPACITY_STEP;
        return (int) Math.min(maxContext, cap);
    }

    private ModelState copyOf(ModelState state) {
        ModelState copy = new ModelState(newId(), state.store, state.storeLength, state.logProbs);
        if (state.segment != null) {
            copy.attachSegment(state.segment, state.segmentRow, state.segmentLength);
        }
        return copy;
    }

    private ModelState register(ModelState state) {
        states.put(state.id, state);
        return state;
    }

    private void drop(ModelState s) {
        if (s.segment != null) {
            s.segment.removeUser(s);
            s.segment = null;
        }
        s.store.removeUser(s);
    }

    private ModelState lookup(StateHandle handle) {
        requireNonNull(handle, "state handle is null");
        checkOpen();
        ModelState s = states.get(handle.id());
        if (s == null) {
            throw new FusionException(name + ": unknown or released state " + handle);
        }
        return s;
    }

    private void checkOpen() {
        if (closed) {
            throw new FusionException(name + ": the model is closed");
        }
    }

    private String newId() {
        return name + "#" + (++nextId);
    }

    private long[] toIds(List<Integer> tokens) {
        int vocab = transformer.cfg.vocabSize();
        long[] ids = new long[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            Integer t = tokens.get(i);
            if (t == null || t < 0 || t >= vocab) {
                throw new FusionException(name + ": token id " + t + " at index " + i + " is outside the vocabulary [0, "
                        + vocab + ")");
            }
            ids[i] = t;
        }
        return ids;
    }
}
