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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;

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
 * <p>Thread-safe. One call runs on the engine at a time; a call that arrives while the engine is busy waits in a
 * queue, and whoever runs next takes the whole queue: {@code nextToken} calls of different generations (different
 * states) run as one batched forward, each row after its own state's cache, and so do {@code score} calls (one row
 * per candidate); other calls run one by one ({@link DjlModelOptions#batchRows()}). A lone call runs exactly as
 * before, in place; batched rows give the same log-probs up to float rounding.
 */
public final class DjlSourceModel implements SourceModel {
    private final String name;
    private final Path dir;
    private final HfTextCodec codec;
    private final Transformer transformer;
    private final KvCache cache;
    private final PrefixCache prefixes;
    private final int maxContext;
    private final int batchRows;
    /** Bytes of keys and values per token, all layers: a gathered batch's size per row and position. */
    private final long bytesPerToken;
    /** Open states by id: read by any thread (commit, release), changed by the running thread and by release. */
    private final Map<String, State> states = new ConcurrentHashMap<>();
    private long nextId;
    private volatile boolean closed;
    private long batchedForwards;
    private long batchedCalls;
    /**
     * Guards the queue and the fields below it; the running thread alone touches the cache and engine. {@link #turn}:
     * the engine is free or a call is done; {@link #arrival}: a call was queued (for a running thread that lingers).
     */
    private final ReentrantLock gate = new ReentrantLock();
    private final Condition turn = gate.newCondition();
    private final Condition arrival = gate.newCondition();
    private final ArrayDeque<Call<?>> queue = new ArrayDeque<>();
    private boolean running;
    /** The thread running calls while {@link #running}. */
    private Thread leader;
    private int queuedDecodes;
    private int queuedScores;
    /** How many nextToken (score) calls the last round with any ran: a round lingers briefly for as many. */
    private int expectedDecodes = 1;
    private int expectedScores = 1;
    /** How long the last round with nextToken or score calls took: a round lingers at most half of it. */
    private long lastRoundNanos;

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
     * @param copyBytes    bytes of the side-by-side copies of stores that batched decode steps keep across forwards
     *                     (allocated at the first batched step, grown as needed, freed by {@link #close})
     */
    public record CacheStats(int stores, int segments, long prefixCopies, long copyBytes) {}

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
     * @param forwards     forwards run (one per {@code open} that is not an exact prefix-cache hit, {@code nextToken},
     *                     {@code score} or {@code nllAtTemperatures} call, two when a longrope state's prefix is
     *                     recomputed; one for all the calls of a batch, see {@link #batchStats})
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

    /**
     * Batching across calls, for monitoring (option {@code batch-rows}).
     *
     * @param forwards forwards that ran several calls together
     * @param calls    the calls they ran
     */
    public record BatchStats(long forwards, long calls) {
        /** The batching between {@code earlier} and this. */
        public BatchStats minus(BatchStats earlier) {
            requireNonNull(earlier, "earlier is null");
            return new BatchStats(forwards - earlier.forwards, calls - earlier.calls);
        }
    }

    private DjlSourceModel(String name, Path dir, HfTextCodec codec, Transformer transformer, int prefixCacheMb,
            int batchRows) {
        this.name = name;
        this.dir = dir;
        this.codec = codec;
        this.transformer = transformer;
        this.maxContext = transformer.maxContext;
        this.cache = new KvCache(transformer.manager, transformer.cfg, transformer.dtype, maxContext, GATHER_BYTES);
        ModelConfig cfg = transformer.cfg;
        long bytesPerToken = 2L * cfg.numLayers() * cfg.numKvHeads() * cfg.headDim()
                * (transformer.dtype == DataType.FLOAT16 ? 2 : 4);
        this.prefixes = new PrefixCache(cache, prefixCacheMb * 1024L * 1024L, bytesPerToken);
        this.bytesPerToken = bytesPerToken;
        this.batchRows = batchRows;
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
            return new DjlSourceModel(modelName, dir, codec, transformer, options.prefixCacheMb(),
                    options.batchRows());
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
    public StateHandle open(List<Integer> promptTokens) {
        return exclusive(() -> {
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
        });
    }

    /** Samples from the state's log-probs and computes the state after the token; batched with concurrent calls. */
    @Override
    public TokenStep nextToken(StateHandle handle, Decoding decoding) {
        requireNonNull(handle, "state handle is null");
        requireNonNull(decoding, "decoding is null");
        return submit(new Decode(handle, decoding));
    }

    /** Scores the candidates in one forward after the state; batched with concurrent calls. */
    @Override
    public List<ScoredTokens> score(StateHandle handle, List<List<Integer>> candidates) {
        requireNonNull(handle, "state handle is null");
        requireNonNull(candidates, "candidates is null");
        return submit(new Score(handle, candidates));
    }

    /**
     * A score call checked: the state, its candidates, and the non-empty ones by what serves them: {@code rows} the
     * state's cache, {@code longRows} (longrope) the state's prefix recomputed with long factors.
     */
    private record ScorePlan(State state, List<List<Integer>> candidates, List<Integer> rows, List<long[]> rowIds,
            List<Integer> longRows, List<long[]> longRowIds) {}

    private ScorePlan planScore(StateHandle handle, List<List<Integer>> candidates) {
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
        return new ScorePlan(state, candidates, rows, rowIds, longRows, longRowIds);
    }

    /** A score call on its own: one batched forward over its candidates, in place when there is one. */
    private List<ScoredTokens> scoreAlone(ScorePlan plan) {
        State state = plan.state();
        List<List<Integer>> candidates = plan.candidates();
        List<Integer> rows = plan.rows();
        List<long[]> rowIds = plan.rowIds();
        List<Integer> longRows = plan.longRows();
        List<long[]> longRowIds = plan.longRowIds();
        List<ScoredTokens> results = new ArrayList<>(Collections.nCopies(candidates.size(), null));
        List<State> created = new ArrayList<>();
        try {
            if (!rows.isEmpty()) {
                scoreRows(state, state.kv(), state.logProbs(), rows, rowIds, results, created);
            }
            if (!longRows.isEmpty()) {
                int longest = longRowIds.stream().mapToInt(r -> r.length).max().orElse(0);
                KvCache.Sequence empty = cache.start(state.kv().length() + longest, true);
                KvCache.Sequence prefix = null;
                try {
                    Transformer.Output out = transformer.forward(Pass.extend(cache.past(empty), state.tokens()));
                    prefix = cache.appended(empty, state.tokens().length);
                    scoreRows(state, prefix, out.lastLogProbs()[0], longRows, longRowIds, results, created);
                } finally {
                    cache.release(empty);
                    if (prefix != null) {
                        cache.release(prefix);
                    }
                }
            }
        } catch (RuntimeException e) {
            discard(created);
            throw e;
        }
        return withEmptyCandidates(state, results);
    }

    /** {@code results} with each empty candidate's entry filled: no scores, and a copy of the state. */
    private List<ScoredTokens> withEmptyCandidates(State state, List<ScoredTokens> results) {
        for (int i = 0; i < results.size(); i++) {
            if (results.get(i) == null) {
                State copy = register(new State(newId(), cache.copy(state.kv()), state.logProbs(), state.tokens()));
                results.set(i, new ScoredTokens(List.of(), new StateHandle(copy.id())));
            }
        }
        return results;
    }

    /**
     * Scores candidates {@code rows} ({@code rowIds} their tokens) in one forward after {@code kv} (the state's cache,
     * or its prefix recomputed), the first token of each from {@code first}; registers each row's new state.
     */
    private void scoreRows(State state, KvCache.Sequence kv, float[] first, List<Integer> rows, List<long[]> rowIds,
            List<ScoredTokens> results, List<State> created) {
        cache.materialize(kv);
        Transformer.Batch batch = Transformer.Batch.padded(rowIds);
        // One candidate whose store tail is free is written in place; otherwise the rows are kept aside.
        boolean inPlace = batch.rows() == 1 && cache.reserve(kv, batch.lengths()[0]);
        Transformer.Output out = transformer.forward(Pass.score(cache.past(kv), batch,
                inPlace ? Transformer.NewKeys.STORE : Transformer.NewKeys.SEGMENT));
        List<KvCache.Sequence> after = inPlace
                ? List.of(cache.appended(kv, batch.lengths()[0]))
                : cache.branched(kv, out.newKv(), batch.lengths());
        putScored(state, first, rows, rowIds, rowOutputs(out, after, batch), results, created);
    }

    /**
     * Registers a state per scored row and puts its scores into {@code results} at its candidate's index: the first
     * token's log-prob from {@code first}, the rest from the forward. The new states go to {@code created} (the caller
     * discards them on failure); rows not registered when something fails are let go here.
     */
    private void putScored(State state, float[] first, List<Integer> rows, List<long[]> rowIds, List<RowOutput> outputs,
            List<ScoredTokens> results, List<State> created) {
        int registered = 0;
        try {
            for (int r = 0; r < outputs.size(); r++) {
                RowOutput row = outputs.get(r);
                long[] ids = rowIds.get(r);
                List<Double> lps = new ArrayList<>(ids.length);
                lps.add((double) first[(int) ids[0]]);
                for (float lp : row.tokenLogProbs()) {
                    lps.add((double) lp);
                }
                State temp = register(new State(newId(), row.kv(), row.lastLogProbs(), tokensAfter(state, ids)));
                created.add(temp);
                registered++;
                results.set(rows.get(r), new ScoredTokens(lps, new StateHandle(temp.id())));
            }
        } catch (RuntimeException | Error e) {
            outputs.subList(registered, outputs.size()).forEach(row -> cache.release(row.kv()));
            throw e;
        }
    }

    /** Unregisters states made by a call that failed and lets go of their caches. */
    private void discard(List<State> created) {
        for (State s : created) {
            states.remove(s.id());
            cache.release(s.kv());
        }
    }

    /** Each row of a forward's batch: its new cache, the log-probs after its last real token and of its tokens. */
    private static List<RowOutput> rowOutputs(Transformer.Output out, List<KvCache.Sequence> after,
            Transformer.Batch batch) {
        List<RowOutput> outputs = new ArrayList<>(batch.rows());
        for (int r = 0; r < batch.rows(); r++) {
            int from = r * batch.width();
            float[] tokens = Arrays.copyOfRange(out.targetLogProbs(), from, from + batch.lengths()[r] - 1);
            outputs.add(new RowOutput(after.get(r), out.lastLogProbs()[r], tokens));
        }
        return outputs;
    }

    /** One forward over {@code tokens} (without keeping its cache), every temperature from its logits. */
    @Override
    public Optional<double[]> nllAtTemperatures(StateHandle handle, List<Integer> tokens,
            double[] temperatures) {
        return exclusive(() -> {
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
        });
    }

    @Override
    public void commit(StateHandle temporary) {
        lookup(temporary); // states are persistent: nothing to do but check the handle (no turn on the engine)
    }

    /**
     * Releases the states. The handles are unusable at once; their caches are freed on the engine's next turn (this
     * call does not wait for a running forward), and before any later call's.
     */
    @Override
    public void release(Collection<StateHandle> handles) {
        requireNonNull(handles, "handles is null");
        List<KvCache.Sequence> caches = new ArrayList<>(handles.size());
        for (StateHandle h : handles) {
            State s = h == null ? null : states.remove(h.id());
            if (s != null) {
                caches.add(s.kv());
            }
        }
        if (caches.isEmpty()) {
            return;
        }
        Release call = new Release(caches);
        gate.lock();
        try {
            if (running) {
                queue.add(call); // the running thread, or the next one, frees them
                return;
            }
        } finally {
            gate.unlock();
        }
        submit(call);
    }

    @Override
    public void close() {
        exclusiveRun(() -> {
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
        });
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
    public int liveStates() {
        return exclusive(() -> {
            return states.size();
        });
    }

    /** How many engine arrays this model holds (weights, caches, scratch): for monitoring native memory. */
    public int managedArrays() {
        return exclusive(() -> {
            return transformer.manager.getManagedArrays().size();
        });
    }

    /**
     * What the KV cache holds and how often it copied: for monitoring cache memory and copy costs. Its stores include
     * those that only the prefix cache keeps.
     */
    public CacheStats cacheStats() {
        return exclusive(() -> {
            return new CacheStats(cache.liveStores(), cache.liveSegments(), cache.prefixCopies(),
                    cache.copyBytes());
        });
    }

    /** What the prefix cache holds and how often {@code open} reused it. */
    public PrefixCacheStats prefixCacheStats() {
        return exclusive(() -> {
            return prefixes.stats();
        });
    }

    /**
     * The next-token log-probabilities after a state (calibrated, over the whole vocabulary): what {@link #nextToken}
     * samples from and {@link #score} reads the first token of a candidate from. A copy; for inspecting a state's
     * distribution (e.g. {@code cool-fusion gpu-check} compares devices with it).
     */
    public float[] nextLogProbs(StateHandle handle) {
        return exclusive(() -> {
            return lookup(handle).logProbs().clone();
        });
    }

    /**
     * The log-probabilities after every position of {@code tokens} (calibrated, over the whole vocabulary), from one
     * forward over the sequence without a cache, as transformers' forward of the whole sequence computes them: row
     * {@code t} is the distribution of the token after {@code tokens[t]}. Nothing is kept. {@code cool-fusion score
     * --top} prints the most likely alternatives from it.
     */
    public float[][] sequenceLogProbs(List<Integer> tokens) {
        return exclusive(() -> {
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
        });
    }

    /** How many forwards the engine ran, over how many tokens, and how many engine arrays they created. */
    public ForwardStats forwardStats() {
        return exclusive(() -> {
            return transformer.stats();
        });
    }

    /**
     * Turns on or off the count of engine arrays in {@link #forwardStats()} (off when loaded). Counting walks the
     * model's arrays twice per forward, which slows a small model's decode by a third, so only benchmarks turn it on.
     */
    public void countEngineArrays(boolean on) {
        exclusiveRun(() -> {
            checkOpen();
            transformer.countArrays(on);
        });
    }

    /** Batching across calls so far: forwards that ran several calls, and those calls. */
    public BatchStats batchStats() {
        return exclusive(() -> new BatchStats(batchedForwards, batchedCalls));
    }

    // ------------------------------------------------------------------------------------------ calls and batches

    /** A call waiting for the engine; the thread that runs it sets its outcome. */
    private abstract static sealed class Call<T> permits Exclusive, Release, Decode, Score {
        private T result;
        private Throwable failure;
        private volatile boolean done;

        final void succeed(T value) {
            result = value;
            done = true;
        }

        final void fail(Throwable t) {
            failure = t;
            done = true;
        }

        /** Runs {@code body} as this call, its result or failure going to the caller. */
        final void run(Supplier<T> body) {
            try {
                succeed(body.get());
            } catch (RuntimeException | Error e) {
                fail(e);
            }
        }

        final T outcome() {
            if (failure instanceof RuntimeException e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
            return result;
        }
    }

    /** Any call but nextToken and score: runs alone, in its turn. */
    private static final class Exclusive<T> extends Call<T> {
        final Supplier<T> body;

        Exclusive(Supplier<T> body) {
            this.body = body;
        }
    }

    /** Released states' caches, freed on the engine's turn; nobody waits for it unless the engine was idle. */
    private static final class Release extends Call<Void> {
        final List<KvCache.Sequence> caches;

        Release(List<KvCache.Sequence> caches) {
            this.caches = caches;
        }
    }

    /** A nextToken call; its state and token are set when it is taken. */
    private static final class Decode extends Call<TokenStep> {
        final StateHandle handle;
        final Decoding decoding;
        State state;
        int token;

        Decode(StateHandle handle, Decoding decoding) {
            this.handle = handle;
            this.decoding = decoding;
        }
    }

    /** A score call; its plan is set when it is taken. */
    private static final class Score extends Call<List<ScoredTokens>> {
        final StateHandle handle;
        final List<List<Integer>> candidates;
        ScorePlan plan;

        Score(StateHandle handle, List<List<Integer>> candidates) {
            this.handle = handle;
            this.candidates = candidates;
        }
    }

    private <T> T exclusive(Supplier<T> body) {
        return submit(new Exclusive<>(body));
    }

    private void exclusiveRun(Runnable body) {
        exclusive(() -> {
            body.run();
            return null;
        });
    }

    /** The longest a round waits for more nextToken or score calls than it found queued. */
    private static final long MAX_LINGER_NANOS = 2_000_000;

    /**
     * Queues {@code call} and waits for its outcome. If the engine is idle, this thread runs every queued call (its
     * own included), outside the gate so that calls arriving meanwhile queue up for the next round; else it waits for
     * the running thread, which may run this call too. Like {@code synchronized}, waiting is not interruptible (the
     * interrupt is kept for the caller).
     */
    private <T> T submit(Call<T> call) {
        boolean interrupted = false;
        gate.lock();
        try {
            if (running && leader == Thread.currentThread()) {
                // A call made while this thread runs calls (e.g. from a list one of them reads) would wait for itself.
                throw new IllegalStateException(name + ": a call made from inside another call on the same model;"
                        + " make it after that call returns");
            }
            enqueue(call);
            while (true) {
                while (!call.done && running) {
                    turn.awaitUninterruptibly();
                }
                if (call.done) {
                    break;
                }
                running = true;
                leader = Thread.currentThread();
                try {
                    long t0 = System.nanoTime();
                    interrupted |= linger();
                    List<Call<?>> taken = takeQueue();
                    runUnlocked(taken);
                    noteRound(taken, System.nanoTime() - t0);
                    // Releases queued meanwhile, with nobody waiting for them: freed before the engine is let go.
                    while (!queue.isEmpty() && queue.stream().allMatch(Release.class::isInstance)) {
                        runUnlocked(takeQueue());
                    }
                } finally {
                    running = false; // the gate is held here on every path
                    leader = null;
                    turn.signalAll();
                }
            }
        } finally {
            gate.unlock();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        return call.outcome();
    }

    /** Runs taken calls with the gate let go, so that others can queue meanwhile (gate held before and after). */
    private void runUnlocked(List<Call<?>> taken) {
        gate.unlock();
        try {
            runTaken(taken);
        } finally {
            gate.lock();
        }
    }

    /** Adds a call to the queue (gate held). */
    private void enqueue(Call<?> call) {
        queue.add(call);
        if (call instanceof Decode) {
            queuedDecodes++;
            arrival.signal();
        } else if (call instanceof Score) {
            queuedScores++;
            arrival.signal();
        }
    }

    /** The whole queue, emptied (gate held). */
    private List<Call<?>> takeQueue() {
        List<Call<?>> taken = new ArrayList<>(queue);
        queue.clear();
        queuedDecodes = 0;
        queuedScores = 0;
        return taken;
    }

    /**
     * Waits (gate held, at most half the last such round and {@link #MAX_LINGER_NANOS}) while fewer nextToken or score
     * calls are queued than the last round ran: the generations that round served are likely computing their next
     * call, and one forward for all of them costs little more than one for the first. A lone generation never waits.
     * True if interrupted.
     */
    private boolean linger() {
        long deadline = System.nanoTime() + Math.min(MAX_LINGER_NANOS, lastRoundNanos / 2);
        while ((queuedDecodes > 0 && queuedDecodes < expectedDecodes)
                || (queuedScores > 0 && queuedScores < expectedScores)) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            try {
                arrival.awaitNanos(left);
            } catch (InterruptedException e) {
                return true;
            }
        }
        return false;
    }

    /** Remembers how many nextToken and score calls a round ran, and how long it took (gate held). */
    private void noteRound(List<Call<?>> taken, long nanos) {
        int decodes = 0;
        int scores = 0;
        for (Call<?> c : taken) {
            decodes += c instanceof Decode ? 1 : 0;
            scores += c instanceof Score ? 1 : 0;
        }
        if (decodes > 0) {
            expectedDecodes = decodes;
        }
        if (scores > 0) {
            expectedScores = scores;
        }
        if (decodes + scores > 0) {
            lastRoundNanos = nanos;
        }
    }

    /** Runs the calls taken from the queue: the exclusive ones in order, then the nextToken and score calls batched. */
    private void runTaken(List<Call<?>> taken) {
        List<Decode> decodes = new ArrayList<>();
        List<Score> scores = new ArrayList<>();
        for (Call<?> call : taken) {
            if (call instanceof Exclusive<?> e) {
                runExclusive(e);
            } else if (call instanceof Release r) {
                r.run(() -> {
                    if (!closed) { // close freed every cache
                        r.caches.forEach(cache::release);
                    }
                    return null;
                });
            } else if (call instanceof Decode d) {
                decodes.add(d);
            } else {
                scores.add((Score) call);
            }
        }
        // Each stage on its own: a failure that escapes one (a bug, an engine error) fails the calls it had not
        // finished, not the next stage's calls nor the running thread's own call.
        Throwable decodeFailure = stage(() -> runDecodes(decodes));
        Throwable scoreFailure = stage(() -> runScores(scores));
        for (Call<?> call : taken) {
            if (!call.done) {
                Throwable cause = call instanceof Score ? scoreFailure : decodeFailure;
                call.fail(cause != null ? cause : new IllegalStateException(name + ": a call was taken but not run"));
            }
        }
    }

    private static Throwable stage(Runnable stage) {
        try {
            stage.run();
            return null;
        } catch (RuntimeException | Error e) {
            return e;
        }
    }

    private static <T> void runExclusive(Exclusive<T> e) {
        e.run(e.body);
    }

    /** nextToken calls: sampled each from its state, then the ones that can share a forward in batches. */
    private void runDecodes(List<Decode> decodes) {
        List<Decode> together = new ArrayList<>();
        for (Decode d : decodes) {
            try {
                d.state = lookup(d.handle);
                d.token = Sampler.choose(d.state.logProbs(), d.decoding);
            } catch (RuntimeException | Error e) {
                d.fail(e);
                continue;
            }
            if (decodes.size() > 1 && batchable(d.state, 1)) {
                together.add(d);
            } else {
                decodeAlone(d);
            }
        }
        for (List<Decode> batch : batches(together, d -> d.state, d -> 1)) {
            if (batch.size() == 1) {
                decodeAlone(batch.get(0));
            } else {
                decodeTogether(batch);
            }
        }
    }

    private void decodeAlone(Decode d) {
        d.run(() -> new TokenStep(d.token, d.state.logProbs()[d.token], new StateHandle(extend(d.state, d.token).id())));
    }

    /** One forward for several nextToken calls; if it fails, each call runs alone (and fails on its own). */
    private void decodeTogether(List<Decode> batch) {
        List<KvCache.Sequence> bases = new ArrayList<>(batch.size());
        List<long[]> rows = new ArrayList<>(batch.size());
        for (Decode d : batch) {
            bases.add(d.state.kv());
            rows.add(new long[] {d.token});
        }
        List<RowOutput> out;
        try {
            out = decodeRows(bases, rows);
        } catch (RuntimeException | Error e) {
            batch.forEach(this::decodeAlone);
            return;
        }
        for (int i = 0; i < batch.size(); i++) {
            Decode d = batch.get(i);
            RowOutput row = out.get(i);
            long[] ids = rows.get(i);
            d.run(() -> {
                try {
                    State next = register(new State(newId(), row.kv(), row.lastLogProbs(), tokensAfter(d.state, ids)));
                    return new TokenStep(d.token, d.state.logProbs()[d.token], new StateHandle(next.id()));
                } catch (RuntimeException | Error e) {
                    cache.release(row.kv());
                    throw e;
                }
            });
        }
    }

    /** score calls: checked each, then the ones that can share a forward in batches. */
    private void runScores(List<Score> scores) {
        List<Score> together = new ArrayList<>();
        for (Score c : scores) {
            try {
                c.plan = planScore(c.handle, c.candidates);
            } catch (RuntimeException | Error e) {
                c.fail(e);
                continue;
            }
            boolean cacheServesAll = c.plan.longRows().isEmpty() && !c.plan.rows().isEmpty();
            if (scores.size() > 1 && cacheServesAll && batchable(c.plan.state(), longest(c.plan.rowIds()))) {
                together.add(c);
            } else {
                scoreCallAlone(c);
            }
        }
        for (List<Score> batch : batches(together, c -> c.plan.state(), c -> c.plan.rows().size())) {
            if (batch.size() == 1) {
                scoreCallAlone(batch.get(0));
            } else {
                scoreTogether(batch);
            }
        }
    }

    private void scoreCallAlone(Score c) {
        c.run(() -> scoreAlone(c.plan));
    }

    /** One forward for several score calls, a row per candidate; if it fails, each call runs alone. */
    private void scoreTogether(List<Score> batch) {
        List<KvCache.Sequence> bases = new ArrayList<>();
        List<long[]> rows = new ArrayList<>();
        for (Score c : batch) {
            for (long[] ids : c.plan.rowIds()) {
                bases.add(c.plan.state().kv());
                rows.add(ids);
            }
        }
        List<RowOutput> out;
        try {
            out = forwardRows(bases, rows, batch.size());
        } catch (RuntimeException | Error e) {
            batch.forEach(this::scoreCallAlone);
            return;
        }
        int first = 0;
        for (Score c : batch) {
            List<RowOutput> mine = out.subList(first, first + c.plan.rows().size());
            first += mine.size();
            c.run(() -> scoredFrom(c.plan, mine));
        }
    }

    /**
     * A score call's result from its rows of a batched forward; if building it fails, the states it registered and
     * the rows' caches are let go.
     */
    private List<ScoredTokens> scoredFrom(ScorePlan plan, List<RowOutput> rows) {
        List<State> created = new ArrayList<>();
        try {
            List<ScoredTokens> results = new ArrayList<>(Collections.nCopies(plan.candidates().size(), null));
            putScored(plan.state(), plan.state().logProbs(), plan.rows(), plan.rowIds(), rows, results, created);
            return withEmptyCandidates(plan.state(), results);
        } catch (RuntimeException | Error e) {
            discard(created);
            throw e;
        }
    }

    /** Whether {@code more} tokens after {@code state} may join a batched forward (no longrope recompute, room left). */
    private boolean batchable(State state, int more) {
        return batchRows > 1 && state.kv().length() + more <= maxContext && !needsLongFactors(state, more);
    }

    private static int longest(List<long[]> rows) {
        int n = 0;
        for (long[] r : rows) {
            n = Math.max(n, r.length);
        }
        return n;
    }

    /** The most bytes of keys and values one batched forward gathers (its rows' pasts, padded to the longest). */
    private static final long GATHER_BYTES = 512L * 1024 * 1024;

    /**
     * Calls split into batches: calls whose caches were computed with the same longrope factors, at most {@link
     * #batchRows} rows and {@link #GATHER_BYTES} of gathered keys and values each, in arrival order.
     */
    private <C> List<List<C>> batches(List<C> calls, Function<C, State> stateOf,
            ToIntFunction<C> rowsOf) {
        List<List<C>> out = new ArrayList<>();
        for (boolean longFactors : new boolean[] {false, true}) {
            List<C> current = new ArrayList<>();
            int rows = 0;
            int longestPast = 0;
            for (C call : calls) {
                KvCache.Sequence kv = stateOf.apply(call).kv();
                if (kv.longFactors() != longFactors) {
                    continue;
                }
                int n = rowsOf.applyAsInt(call);
                int longer = Math.max(longestPast, kv.length());
                boolean fits = rows + n <= batchRows && (rows + n) * (long) longer * bytesPerToken <= GATHER_BYTES;
                if (!current.isEmpty() && !fits) {
                    out.add(current);
                    current = new ArrayList<>();
                    rows = 0;
                    longer = kv.length();
                }
                current.add(call);
                rows += n;
                longestPast = longer;
            }
            if (!current.isEmpty()) {
                out.add(current);
            }
        }
        return out;
    }

    /**
     * One forward for decode steps of several states: like {@link #forwardRows}, but from the copies of their stores
     * that the cache keeps across forwards ({@link KvCache#gatherReusing}), so that a step copies only what is new.
     */
    private List<RowOutput> decodeRows(List<KvCache.Sequence> bases, List<long[]> rows) {
        for (KvCache.Sequence base : bases) {
            cache.materialize(base);
        }
        java.util.Optional<KvCache.Reused> reusable = cache.gatherReusing(bases);
        if (reusable.isEmpty()) {
            return forwardRows(bases, rows, rows.size());
        }
        Transformer.Output out;
        int[] rowOf;
        int span;
        try (KvCache.Reused pasts = reusable.get()) {
            rowOf = pasts.rowOf();
            span = pasts.past().rowLengths().length;
            // Row rowOf[i] carries call i's token; the rest are padding (one token after one position).
            List<long[]> placed = new ArrayList<>(Collections.nCopies(span, new long[] {0}));
            for (int i = 0; i < rows.size(); i++) {
                placed.set(rowOf[i], rows.get(i));
            }
            out = transformer.forward(Pass.rows(pasts.past(), Transformer.Batch.padded(placed)));
        }
        // Each call's new state: its base followed by its row of the segment (padding rows are not kept).
        int[] lengths = new int[rows.size()];
        java.util.Arrays.fill(lengths, 1);
        List<KvCache.Sequence> after = branched(out, () -> cache.branchedRows(bases, out.newKv(), lengths, rowOf));
        List<RowOutput> outputs = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            outputs.add(new RowOutput(after.get(i), out.lastLogProbs()[rowOf[i]], new float[0]));
        }
        batchedForwards++;
        batchedCalls += rows.size();
        return outputs;
    }

    /** The sequences {@code branch} makes of a forward's new keys and values, which are closed if it fails. */
    private static List<KvCache.Sequence> branched(Transformer.Output out, Supplier<List<KvCache.Sequence>> branch) {
        try {
            return branch.get();
        } catch (RuntimeException | Error e) {
            out.newKv().close();
            throw e;
        }
    }

    /** One row's outcome of a batched forward: its new cache, the log-probs after its last token and of its tokens. */
    private record RowOutput(KvCache.Sequence kv, float[] lastLogProbs, float[] tokenLogProbs) {}

    /**
     * One forward over rows of new tokens, row {@code r} after {@code bases.get(r)} (rows of several calls): the
     * bases' pasts gathered side by side, each row's new keys and values kept as a segment row. {@code tokenLogProbs}
     * of a row are the log-probs of its tokens after the first.
     */
    private List<RowOutput> forwardRows(List<KvCache.Sequence> bases, List<long[]> rows, int calls) {
        for (KvCache.Sequence base : bases) {
            cache.materialize(base);
        }
        Transformer.Batch batch = Transformer.Batch.padded(rows);
        Transformer.Output out;
        try (KvCache.Gathered pasts = cache.gather(bases)) {
            out = transformer.forward(Pass.rows(pasts.past(), batch));
        }
        List<KvCache.Sequence> after = branched(out, () -> cache.branchedRows(bases, out.newKv(), batch.lengths()));
        List<RowOutput> outputs = rowOutputs(out, after, batch);
        batchedForwards++;
        batchedCalls += calls;
        return outputs;
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
