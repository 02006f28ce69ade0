package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.coolfusion.djl.model.Transformer.Pass;
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

/**
 * A local Hugging Face checkpoint (Llama 2/3, Mistral, Qwen2, Phi-3 in safetensors) as a {@link SourceModel} on
 * DJL's PyTorch engine, with a real KV cache behind every state handle.
 *
 * <p>Create one with {@link #load(Path, DjlModelOptions)}. States are persistent and share their cache ({@link
 * KvCache}): a state that ends where its storage's used part ends appends in place, any other copies its prefix first.
 * Scoring runs all candidates in one batched forward whose new keys and values are kept aside until a candidate's state
 * is extended. Each state remembers its next-token log-probabilities, so that nothing is recomputed.
 *
 * <p>All methods are synchronized: different models may run on different threads, one model serves one call at a
 * time.
 */
public final class DjlSourceModel implements SourceModel {
    private final String name;
    private final Path dir;
    private final HfTextCodec codec;
    private final Transformer transformer;
    private final KvCache cache;
    private final int maxContext;
    private final Map<String, State> states = new HashMap<>();
    private long nextId;
    private boolean closed;

    /** What a state handle stands for: its keys and values, and the next-token log-probabilities after them. */
    private record State(String id, KvCache.Sequence kv, float[] logProbs) {}

    /**
     * The KV cache's bookkeeping, for monitoring.
     *
     * @param stores       key/value stores not yet freed (states that are prefixes of one another share one)
     * @param segments     scored candidates' key/value batches not yet written into a store nor freed
     * @param prefixCopies how often so far a state's cached prefix was copied into a new store (capacity growth, or
     *                     growing a state whose store's tail another state holds)
     */
    public record CacheStats(int stores, int segments, long prefixCopies) {}

    private DjlSourceModel(String name, Path dir, HfTextCodec codec, Transformer transformer) {
        this.name = name;
        this.dir = dir;
        this.codec = codec;
        this.transformer = transformer;
        this.maxContext = transformer.maxContext;
        this.cache = new KvCache(transformer.manager, transformer.cfg, transformer.dtype, maxContext);
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
        KvCache.Sequence empty = cache.start(ids.length);
        try {
            Transformer.Output out = transformer.forward(Pass.extend(cache.past(empty), ids));
            State state = register(new State(newId(), cache.appended(empty, ids.length), out.lastLogProbs()[0]));
            return new StateHandle(state.id());
        } finally {
            cache.release(empty); // the prompt's state keeps the store; after a failure nothing does
        }
    }

    @Override
    public synchronized TokenStep nextToken(StateHandle handle, Decoding decoding) {
        requireNonNull(decoding, "decoding is null");
        State state = lookup(handle);
        int token = Sampler.choose(state.logProbs(), decoding);
        State next = extend(state, token);
        return new TokenStep(token, state.logProbs()[token], new StateHandle(next.id()));
    }

    @Override
    public synchronized List<ScoredTokens> score(StateHandle handle, List<List<Integer>> candidates) {
        requireNonNull(candidates, "candidates is null");
        State state = lookup(handle);
        List<Integer> rows = new ArrayList<>();
        List<long[]> rowIds = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            List<Integer> c = requireNonNull(candidates.get(i), "candidate " + i + " is null");
            if (!c.isEmpty()) {
                long[] ids = toIds(c);
                if (state.kv().length() + c.size() > maxContext) {
                    throw new FusionException(name + ": candidate " + i + " (" + c.size() + " tokens) after "
                            + state.kv().length() + " tokens exceeds the max context of " + maxContext + " tokens");
                }
                rows.add(i);
                rowIds.add(ids);
            }
        }
        List<ScoredTokens> results = new ArrayList<>(candidates.size());
        for (int i = 0; i < candidates.size(); i++) {
            results.add(null);
        }
        if (!rows.isEmpty()) {
            KvCache.Sequence kv = state.kv();
            cache.materialize(kv);
            Transformer.Batch batch = Transformer.Batch.padded(rowIds);
            // One candidate whose store tail is free is written in place; otherwise the rows are kept aside.
            boolean inPlace = batch.rows() == 1 && cache.reserve(kv, batch.lengths()[0]);
            Transformer.Output out = transformer.forward(Pass.score(cache.past(kv), batch,
                    inPlace ? Transformer.NewKeys.STORE : Transformer.NewKeys.SEGMENT));
            List<KvCache.Sequence> after = inPlace
                    ? List.of(cache.appended(kv, batch.lengths()[0]))
                    : cache.branched(kv, out.newKv(), batch.lengths());
            List<State> created = new ArrayList<>();
            try {
                for (int r = 0; r < batch.rows(); r++) {
                    List<Integer> c = candidates.get(rows.get(r));
                    List<Double> lps = new ArrayList<>(c.size());
                    lps.add((double) state.logProbs()[c.get(0)]);
                    for (int t = 0; t + 1 < c.size(); t++) {
                        lps.add((double) out.targetLogProbs()[r * batch.width() + t]);
                    }
                    State temp = register(new State(newId(), after.get(r), out.lastLogProbs()[r]));
                    created.add(temp);
                    results.set(rows.get(r), new ScoredTokens(lps, new StateHandle(temp.id())));
                }
            } catch (RuntimeException e) {
                created.forEach(s -> states.remove(s.id()));
                after.forEach(cache::release);
                throw e;
            }
        }
        for (int i = 0; i < candidates.size(); i++) {
            if (results.get(i) == null) {
                State copy = register(new State(newId(), cache.copy(state.kv()), state.logProbs()));
                results.set(i, new ScoredTokens(List.of(), new StateHandle(copy.id())));
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
        State state = lookup(handle);
        double[] nll = new double[temperatures.length];
        if (tokens.isEmpty()) {
            return Optional.of(nll);
        }
        long[] ids = toIds(tokens);
        if (state.kv().length() + ids.length > maxContext) {
            throw new FusionException(name + ": " + ids.length + " tokens after " + state.kv().length()
                    + " exceed the max context of " + maxContext + " tokens");
        }
        // The first token's distribution is the state's (already calibrated) log-probs; the rest come from one
        // forward, tempered by the engine next to the logits.
        float[] first = state.logProbs();
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
            cache.materialize(state.kv());
            Transformer.Output out = transformer.forward(Pass.temperedNll(cache.past(state.kv()), ids, temperatures));
            for (int i = 0; i < temperatures.length; i++) {
                nll[i] += out.temperedNll()[i];
            }
        }
        return Optional.of(nll);
    }

    @Override
    public synchronized void commit(StateHandle temporary) {
        lookup(temporary);
    }

    @Override
    public synchronized void release(Collection<StateHandle> handles) {
        requireNonNull(handles, "handles is null");
        for (StateHandle h : handles) {
            if (h == null) {
                continue;
            }
            State s = states.remove(h.id());
            if (s != null) {
                cache.release(s.kv());
            }
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (State s : states.values()) {
            cache.release(s.kv());
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

    /** How many state handles are open (not yet released): for monitoring and leak checks. */
    public synchronized int liveStates() {
        return states.size();
    }

    /** How many engine arrays this model holds (weights, caches, scratch): for monitoring native memory. */
    public synchronized int managedArrays() {
        return transformer.manager.getManagedArrays().size();
    }

    /** What the KV cache holds and how often it copied: for monitoring cache memory and copy costs. */
    public synchronized CacheStats cacheStats() {
        return new CacheStats(cache.liveStores(), cache.liveSegments(), cache.prefixCopies());
    }

    // ------------------------------------------------------------------------------------------- package-private

    /** Appends a given token (no sampling): the cache path the tests compare with forwards without a cache. */
    synchronized StateHandle append(StateHandle handle, int token) {
        State state = lookup(handle);
        toIds(List.of(token));
        return new StateHandle(extend(state, token).id());
    }

    /** The next-token log-probabilities a state remembers. */
    synchronized float[] logProbs(StateHandle handle) {
        return lookup(handle).logProbs().clone();
    }

    // ---------------------------------------------------------------------------------------------------- internals

    /** The state after one more token: written in place when the state's store tail is free, else kept aside. */
    private State extend(State state, int token) {
        KvCache.Sequence kv = state.kv();
        if (kv.length() + 1 > maxContext) {
            throw new FusionException(name + ": the context is full (" + kv.length() + " of " + maxContext
                    + " tokens); no further token fits");
        }
        cache.materialize(kv);
        if (cache.reserve(kv, 1)) {
            Transformer.Output out = transformer.forward(Pass.extend(cache.past(kv), new long[] {token}));
            return register(new State(newId(), cache.appended(kv, 1), out.lastLogProbs()[0]));
        }
        Transformer.Output out = transformer.forward(Pass.branch(cache.past(kv), token));
        KvCache.Sequence next = cache.branched(kv, out.newKv(), new int[] {1}).get(0);
        return register(new State(newId(), next, out.lastLogProbs()[0]));
    }

    private State register(State state) {
        states.put(state.id(), state);
        return state;
    }

    private State lookup(StateHandle handle) {
        requireNonNull(handle, "state handle is null");
        checkOpen();
        State s = states.get(handle.id());
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
