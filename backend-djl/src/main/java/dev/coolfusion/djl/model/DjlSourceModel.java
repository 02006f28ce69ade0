package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
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
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A local Hugging Face checkpoint (Llama 2/3, Mistral, Qwen 2 and 3, Phi-3, GLM-4, Gemma 2 and 3 in safetensors) as a
 * {@link SourceModel} on DJL's PyTorch engine, with a real KV cache behind every state handle.
 *
 * <p>Create one with {@link #load(Path, DjlModelOptions)}. States are persistent and share their cache ({@link
 * KvCache}): a state that ends where its storage's used part ends appends in place, any other copies its prefix first.
 * Scoring runs all candidates in one batched forward whose new keys and values are kept aside until a candidate's state
 * is extended. Each state remembers its next-token log-probabilities, so that nothing is recomputed.
 *
 * <p>Longrope (Phi-3 128k): transformers computes a sequence with {@code short_factor} while it is at most {@code
 * original_max_position_embeddings} long and with {@code long_factor} beyond, and a cache built with the short factors
 * is not valid for the long ones. Every forward here uses the factors transformers uses for the whole sequence it
 * computes (the state's tokens plus the new ones): a state's next-token log-probabilities are those of its own
 * sequence, a candidate's scores those of one forward over the state's tokens and the candidate. The first forward
 * that reaches past the original length after a state cached with short factors recomputes that state's prefix with
 * the long factors (once: what follows is cached with long factors); states remember their tokens until then.
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
    private final PrefixCache prefixes;
    private final int maxContext;
    private final Map<String, State> states = new HashMap<>();
    private long nextId;
    private boolean closed;

    /**
     * What a state handle stands for: its keys and values, and the next-token log-probabilities after them; with
     * longrope, while its cache holds short factors, its token ids (else null).
     */
    private record State(String id, KvCache.Sequence kv, float[] logProbs, long[] tokens) {}

    /**
     * The KV cache's bookkeeping, for monitoring.
     *
     * @param stores       key/value stores not yet freed (states that are prefixes of one another share one)
     * @param segments     scored candidates' key/value batches not yet written into a store nor freed
     * @param prefixCopies how often so far a state's cached prefix was copied into a new store (capacity growth, or
     *                     growing a state whose store's tail another state holds)
     */
    public record CacheStats(int stores, int segments, long prefixCopies) {}

    /**
     * The prefix cache of {@code open}, for monitoring (option {@code prefix-cache-mb}).
     *
     * @param entries      prompts kept
     * @param tokens       their tokens, summed
     * @param bytes        their keys' and values' size (the stores holding them may have room for growth beyond)
     * @param capBytes     the memory cap (0: the prefix cache is off)
     * @param hits         {@code open} calls that reused a kept prompt's keys and values
     * @param misses       {@code open} calls that found none to reuse (while the cache is on)
     * @param reusedTokens prompt tokens that hits did not compute
     */
    public record PrefixCacheStats(int entries, long tokens, long bytes, long capBytes, long hits, long misses,
            long reusedTokens) {}

    /**
     * The engine work so far, for monitoring (cumulative since loading).
     *
     * @param forwards     forwards run (one per {@code open}, {@code nextToken}, {@code score} or {@code
     *                     nllAtTemperatures} call, two when a longrope state's prefix is recomputed)
     * @param tokens       new token positions those forwards computed (padding included)
     * @param engineArrays engine arrays those forwards created while {@link #countEngineArrays counting} was on (a
     *                     proxy for engine calls; in-place operations and views that DJL does not register are not
     *                     counted)
     */
    public record ForwardStats(long forwards, long tokens, long engineArrays) {
        /** The work between {@code earlier} and this. */
        public ForwardStats minus(ForwardStats earlier) {
            requireNonNull(earlier, "earlier is null");
            return new ForwardStats(forwards - earlier.forwards, tokens - earlier.tokens,
                    engineArrays - earlier.engineArrays);
        }
    }

    private DjlSourceModel(String name, Path dir, HfTextCodec codec, Transformer transformer, int prefixCacheMb) {
        this.name = name;
        this.dir = dir;
        this.codec = codec;
        this.transformer = transformer;
        this.maxContext = transformer.maxContext;
        this.cache = new KvCache(transformer.manager, transformer.cfg, transformer.dtype, maxContext);
        ModelConfig cfg = transformer.cfg;
        long bytesPerToken = 2L * cfg.numLayers() * cfg.numKvHeads() * cfg.headDim()
                * (transformer.dtype == DataType.FLOAT16 ? 2 : 4);
        this.prefixes = new PrefixCache(cache, prefixCacheMb * 1024L * 1024L, bytesPerToken);
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
        int limit = cfg.maxPositions(); // a sliding window limits what a layer sees, not the context
        int maxContext = limit;
        if (options.maxContext().isPresent()) {
            int wanted = options.maxContext().getAsInt();
            if (wanted > limit) {
                throw new FusionException("max context " + wanted + " exceeds what " + dir.getFileName() + " supports: "
                        + limit + " (max_position_embeddings " + cfg.maxPositions() + ")");
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
            return new DjlSourceModel(modelName, dir, codec, transformer, options.prefixCacheMb());
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
    @Override
    public OptionalInt vocabularySize() {
        return OptionalInt.of(transformer.cfg.vocabSize());
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
        boolean longFactors = transformer.usesLongFactors(ids.length);
        if (!prefixes.enabled()) {
            return new StateHandle(prefill(ids, longFactors).id());
        }
        // The kept prompt sharing the most leading tokens with this one: only the rest is computed. The same prompt
        // costs no forward; otherwise at least its last token is computed, after at least MIN_REUSE shared ones.
        PrefixCache.Match match = prefixes.longest(ids, longFactors);
        int reuse = match == null ? 0 : Math.min(match.shared(), ids.length - 1);
        State state;
        if (match != null && match.shared() == ids.length && match.entry().tokens().length == ids.length) {
            state = register(new State(newId(), cache.copy(match.entry().kv()), match.entry().logProbs(),
                    shortFactorTokens(ids, longFactors)));
            prefixes.hit(match, ids.length);
        } else if (reuse >= PrefixCache.MIN_REUSE) {
            state = prefillAfter(cache.prefix(match.entry().kv(), reuse), ids, longFactors);
            prefixes.hit(match, reuse);
        } else {
            state = prefill(ids, longFactors);
            prefixes.miss();
        }
        prefixes.put(ids, state.kv(), state.logProbs());
        return new StateHandle(state.id());
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
        // Rows the state's cache serves, and (longrope) rows that reach past the original length after a state
        // cached with short factors: those are scored after the state's prefix recomputed with long factors.
        List<Integer> rows = new ArrayList<>();
        List<long[]> rowIds = new ArrayList<>();
        List<Integer> longRows = new ArrayList<>();
        List<long[]> longRowIds = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            List<Integer> c = requireNonNull(candidates.get(i), "candidate " + i + " is null");
            if (!c.isEmpty()) {
                long[] ids = toIds(c);
                if (state.kv().length() + c.size() > maxContext) {
                    throw new FusionException(name + ": candidate " + i + " (" + c.size() + " tokens) after "
                            + state.kv().length() + " tokens exceeds the max context of " + maxContext + " tokens");
                }
                boolean recompute = needsLongFactors(state, c.size());
                (recompute ? longRows : rows).add(i);
                (recompute ? longRowIds : rowIds).add(ids);
            }
        }
        List<ScoredTokens> results = new ArrayList<>(candidates.size());
        for (int i = 0; i < candidates.size(); i++) {
            results.add(null);
        }
        List<State> created = new ArrayList<>();
        try {
            if (!rows.isEmpty()) {
                scoreRows(state, state.kv(), state.logProbs(), rows, rowIds, candidates, results, created);
            }
            if (!longRows.isEmpty()) {
                int longest = longRowIds.stream().mapToInt(r -> r.length).max().orElse(0);
                KvCache.Sequence empty = cache.start(state.kv().length() + longest, true);
                KvCache.Sequence prefix = null;
                try {
                    Transformer.Output out = transformer.forward(Pass.extend(cache.past(empty), state.tokens()));
                    prefix = cache.appended(empty, state.tokens().length);
                    scoreRows(state, prefix, out.lastLogProbs()[0], longRows, longRowIds, candidates, results, created);
                } finally {
                    cache.release(empty);
                    if (prefix != null) {
                        cache.release(prefix);
                    }
                }
            }
        } catch (RuntimeException e) {
            for (State s : created) {
                states.remove(s.id());
                cache.release(s.kv());
            }
            throw e;
        }
        for (int i = 0; i < candidates.size(); i++) {
            if (results.get(i) == null) {
                State copy = register(new State(newId(), cache.copy(state.kv()), state.logProbs(), state.tokens()));
                results.set(i, new ScoredTokens(List.of(), new StateHandle(copy.id())));
            }
        }
        return results;
    }

    /**
     * Scores rows {@code rows} of {@code candidates} in one batched forward after {@code kv} (the state's cache, or its
     * prefix recomputed), the first token of each from {@code first}; registers each row's new state.
     */
    private void scoreRows(State state, KvCache.Sequence kv, float[] first, List<Integer> rows, List<long[]> rowIds,
            List<List<Integer>> candidates, List<ScoredTokens> results, List<State> created) {
        cache.materialize(kv);
        Transformer.Batch batch = Transformer.Batch.padded(rowIds);
        // One candidate whose store tail is free is written in place; otherwise the rows are kept aside.
        boolean inPlace = batch.rows() == 1 && cache.reserve(kv, batch.lengths()[0]);
        Transformer.Output out = transformer.forward(Pass.score(cache.past(kv), batch,
                inPlace ? Transformer.NewKeys.STORE : Transformer.NewKeys.SEGMENT));
        List<KvCache.Sequence> after = inPlace
                ? List.of(cache.appended(kv, batch.lengths()[0]))
                : cache.branched(kv, out.newKv(), batch.lengths());
        int registered = 0;
        try {
            for (int r = 0; r < batch.rows(); r++) {
                List<Integer> c = candidates.get(rows.get(r));
                List<Double> lps = new ArrayList<>(c.size());
                lps.add((double) first[c.get(0)]);
                for (int t = 0; t + 1 < c.size(); t++) {
                    lps.add((double) out.targetLogProbs()[r * batch.width() + t]);
                }
                State temp = register(new State(newId(), after.get(r), out.lastLogProbs()[r],
                        tokensAfter(state, rowIds.get(r))));
                created.add(temp);
                registered++;
                results.set(rows.get(r), new ScoredTokens(lps, new StateHandle(temp.id())));
            }
        } catch (RuntimeException e) {
            after.subList(registered, after.size()).forEach(cache::release);
            throw e;
        }
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
        if (needsLongFactors(state, ids.length)) {
            // Longrope past the original length: one forward over the state's tokens and these, with long factors.
            long[] all = concat(state.tokens(), ids);
            KvCache.Sequence empty = cache.start(all.length, true);
            try {
                Transformer.Output out = transformer.forward(Pass.temperedNllFrom(cache.past(empty), all, temperatures,
                        state.tokens().length - 1));
                return Optional.of(out.temperedNll());
            } finally {
                cache.release(empty);
            }
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
        prefixes.clear();
        transformer.close();
        codec.close();
    }

    @Override
    public String toString() {
        return "DjlSourceModel[" + name + ", " + transformer.cfg.architecture().hfName + ", " + transformer.device + ", "
                + transformer.dtype + "]";
    }

    /**
     * How many state handles are open (not yet released): for monitoring and leak checks. The prefix cache's entries
     * are not handles and are not counted (see {@link #prefixCacheStats}); {@link #close} frees them.
     */
    public synchronized int liveStates() {
        return states.size();
    }

    /** How many engine arrays this model holds (weights, caches, scratch): for monitoring native memory. */
    public synchronized int managedArrays() {
        return transformer.manager.getManagedArrays().size();
    }

    /**
     * What the KV cache holds and how often it copied: for monitoring cache memory and copy costs. Its stores include
     * those that only the prefix cache keeps.
     */
    public synchronized CacheStats cacheStats() {
        return new CacheStats(cache.liveStores(), cache.liveSegments(), cache.prefixCopies());
    }

    /** What the prefix cache holds and how often {@code open} reused it. */
    public synchronized PrefixCacheStats prefixCacheStats() {
        return prefixes.stats();
    }

    /**
     * The next-token log-probabilities after a state (calibrated, over the whole vocabulary): what {@link #nextToken}
     * samples from and {@link #score} reads the first token of a candidate from. A copy; for inspecting a state's
     * distribution (e.g. {@code cool-fusion gpu-check} compares devices with it).
     */
    public synchronized float[] nextLogProbs(StateHandle handle) {
        return lookup(handle).logProbs().clone();
    }

    /**
     * The log-probabilities after every position of {@code tokens} (calibrated, over the whole vocabulary), from one
     * forward over the sequence without a cache, as transformers' forward of the whole sequence computes them: row
     * {@code t} is the distribution of the token after {@code tokens[t]}. Nothing is kept. {@code cool-fusion score
     * --top} prints the most likely alternatives from it.
     */
    public synchronized float[][] sequenceLogProbs(List<Integer> tokens) {
        requireNonNull(tokens, "tokens is null");
        checkOpen();
        if (tokens.isEmpty()) {
            throw new FusionException(name + ": the sequence is empty; it needs at least one token");
        }
        if (tokens.size() > maxContext) {
            throw new FusionException(name + ": the sequence has " + tokens.size() + " tokens, more than the max context"
                    + " of " + maxContext + " tokens");
        }
        long[] ids = toIds(tokens);
        KvCache.Sequence empty = cache.start(ids.length, transformer.usesLongFactors(ids.length));
        float[] flat;
        try {
            flat = transformer.forward(Transformer.Pass.every(cache.past(empty), ids)).everyLogProbs();
        } finally {
            cache.release(empty);
        }
        int vocab = transformer.cfg.vocabSize();
        float[][] rows = new float[ids.length][];
        for (int t = 0; t < rows.length; t++) {
            rows[t] = Arrays.copyOfRange(flat, t * vocab, (t + 1) * vocab);
        }
        return rows;
    }

    /** How many forwards the engine ran, over how many tokens, and how many engine arrays they created. */
    public synchronized ForwardStats forwardStats() {
        return transformer.stats();
    }

    /**
     * Turns on or off the count of engine arrays in {@link #forwardStats()} (off when loaded). Counting walks the
     * model's arrays twice per forward, which slows a small model's decode by a third, so only benchmarks turn it on.
     */
    public synchronized void countEngineArrays(boolean on) {
        checkOpen();
        transformer.countArrays(on);
    }

    // ---------------------------------------------------------------------------------------------------- internals

    /**
     * The state after one more token: written in place when the state's store tail is free, else kept aside; with
     * longrope, recomputed with long factors when it reaches past the original length.
     */
    private State extend(State state, int token) {
        KvCache.Sequence kv = state.kv();
        if (kv.length() + 1 > maxContext) {
            throw new FusionException(name + ": the context is full (" + kv.length() + " of " + maxContext
                    + " tokens); no further token fits");
        }
        long[] ids = {token};
        if (needsLongFactors(state, 1)) {
            return prefill(concat(state.tokens(), ids), true);
        }
        cache.materialize(kv);
        if (cache.reserve(kv, 1)) {
            Transformer.Output out = transformer.forward(Pass.extend(cache.past(kv), ids));
            return register(new State(newId(), cache.appended(kv, 1), out.lastLogProbs()[0], tokensAfter(state, ids)));
        }
        Transformer.Output out = transformer.forward(Pass.branch(cache.past(kv), ids));
        KvCache.Sequence next = cache.branched(kv, out.newKv(), new int[] {1}).get(0);
        return register(new State(newId(), next, out.lastLogProbs()[0], tokensAfter(state, ids)));
    }

    /** A new state for {@code ids} from scratch, its cache computed with longrope's long factors or not. */
    private State prefill(long[] ids, boolean longFactors) {
        KvCache.Sequence empty = cache.start(ids.length, longFactors);
        try {
            Transformer.Output out = transformer.forward(Pass.extend(cache.past(empty), ids));
            return register(new State(newId(), cache.appended(empty, ids.length), out.lastLogProbs()[0],
                    shortFactorTokens(ids, longFactors)));
        } finally {
            cache.release(empty); // the new state keeps the store; after a failure nothing does
        }
    }

    /**
     * A new state for {@code ids} whose first {@code head.length()} keys and values {@code head} holds (a prefix of a
     * kept prompt, computed with the factors {@code longFactors} says): the rest in place if the store's tail is free,
     * else beside it. {@code head} is released.
     */
    private State prefillAfter(KvCache.Sequence head, long[] ids, boolean longFactors) {
        try {
            long[] rest = Arrays.copyOfRange(ids, head.length(), ids.length);
            if (cache.reserve(head, rest.length)) {
                Transformer.Output out = transformer.forward(Pass.extend(cache.past(head), rest));
                return register(new State(newId(), cache.appended(head, rest.length), out.lastLogProbs()[0],
                        shortFactorTokens(ids, longFactors)));
            }
            Transformer.Output out = transformer.forward(Pass.branch(cache.past(head), rest));
            KvCache.Sequence kv = cache.branched(head, out.newKv(), new int[] {rest.length}).get(0);
            return register(new State(newId(), kv, out.lastLogProbs()[0], shortFactorTokens(ids, longFactors)));
        } finally {
            cache.release(head);
        }
    }

    /** The token ids a new longrope state cached with short factors remembers; null otherwise. */
    private long[] shortFactorTokens(long[] ids, boolean longFactors) {
        return transformer.hasLongRope() && !longFactors ? ids.clone() : null;
    }

    /** Whether {@code more} tokens after {@code state} need longrope's long factors that its cache does not have. */
    private boolean needsLongFactors(State state, int more) {
        return transformer.usesLongFactors(state.kv().length() + more) && !state.kv().longFactors();
    }

    /** The token ids a longrope state after {@code state} and {@code more} remembers (null once it need not). */
    private long[] tokensAfter(State state, long[] more) {
        if (state.tokens() == null || transformer.usesLongFactors(state.kv().length() + more.length)) {
            return null;
        }
        return concat(state.tokens(), more);
    }

    private static long[] concat(long[] a, long[] b) {
        long[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
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
