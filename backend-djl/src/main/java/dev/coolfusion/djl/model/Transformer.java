package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import dev.coolfusion.djl.model.ModelConfig.Architecture;
import dev.coolfusion.spi.FusionException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A decoder-only transformer (Llama, Mistral, Qwen2, Phi-3) on DJL's PyTorch engine, with Hugging Face semantics.
 *
 * <p>Weights are rearranged once at load time so that a decode step needs few engine calls:
 * <ul>
 *   <li>q, k and v projections are one matrix; the attention scale {@code head_dim^-0.5} is folded into the q rows.</li>
 *   <li>Every RMSNorm weight is folded into the projection that follows it. The residual stream carries one extra
 *       constant element {@code c = sqrt(hidden * eps)}, so that {@code F.normalize([x, c]) * sqrt(hidden)} equals
 *       {@code x * rsqrt(mean(x^2) + eps)} on the first {@code hidden} elements: one call per norm. Projections
 *       that read the stream get a zero column for it, projections that write it a zero row.</li>
 *   <li>gate and up projections are one matrix.</li>
 *   <li>RoPE: {@code x * cos + rotate_half(x) * sin} with {@code rotate_half} as a matmul by a signed permutation,
 *       applied to all q, k and v heads at once with cos = 1 and sin = 0 for the v heads.</li>
 * </ul>
 *
 * <p>A forward is described by a {@link Pass}: the new tokens, the cached keys and values before them ({@link Past}),
 * where the new keys and values go ({@link NewKeys}) and what is read out ({@link Readout}). The cache's bookkeeping
 * (which store, how long, who shares it) is {@link KvCache}'s; this class only sees tensors. Every forward runs in an
 * {@link NDScope}; only the arrays it hands back survive it.
 */
final class Transformer implements AutoCloseable {
    private static final double NORM_EPS = 1e-12;

    final ModelConfig cfg;
    final NDManager manager;
    final Device device;
    final DataType dtype;
    final int maxContext;
    /** 1 / calibration temperature: logits are multiplied by it before the log-softmax. */
    private final float logitScale;
    private final boolean halfNorm;
    private final NDArray embed;
    private final NDArray lmHead;
    private final NDArray lmScale;
    private final Layer[] layers;
    private final NDArray cosTable;
    private final NDArray sinTable;
    private final NDArray rotation;
    private final NDArray ropeHeads;
    private final NDArray valueHeads;
    /** Query heads, key/value heads, query heads per key/value head, head size, projected (q + k + v) heads. */
    private final int h;
    private final int kv;
    private final int g;
    private final int d;
    private final int heads;

    private record Layer(NDArray qkv, NDArray qkvBias, NDArray out, NDArray outBias, NDArray gateUp, NDArray down) {}

    private Transformer(ModelConfig cfg, NDManager manager, DataType dtype, int maxContext, float logitScale,
            NDArray embed, NDArray lmHead,
            NDArray lmScale, Layer[] layers, NDArray cosTable, NDArray sinTable, NDArray rotation, NDArray ropeHeads,
            NDArray valueHeads) {
        this.cfg = cfg;
        this.manager = manager;
        this.device = manager.getDevice();
        this.dtype = dtype;
        this.maxContext = maxContext;
        this.logitScale = logitScale;
        this.halfNorm = dtype == DataType.FLOAT16;
        this.embed = embed;
        this.lmHead = lmHead;
        this.lmScale = lmScale;
        this.layers = layers;
        this.cosTable = cosTable;
        this.sinTable = sinTable;
        this.rotation = rotation;
        this.ropeHeads = ropeHeads;
        this.valueHeads = valueHeads;
        this.h = cfg.numHeads();
        this.kv = cfg.numKvHeads();
        this.g = cfg.groupSize();
        this.d = cfg.headDim();
        this.heads = cfg.projectedHeads();
    }

    // ---------------------------------------------------------------------------------------------------- loading

    static Transformer load(ModelConfig cfg, SafetensorsReader reader, NDManager manager, ModelDtype modelDtype,
            int maxContext, double calibrationTemperature) {
        DataType dt = modelDtype.dataType();
        int hid = cfg.hiddenSize();
        int d = cfg.headDim();
        int h = cfg.numHeads();
        int kv = cfg.numKvHeads();
        int inter = cfg.intermediateSize();
        int vocab = cfg.vocabSize();
        float sqrtHidden = (float) Math.sqrt(hid);
        float c = (float) Math.sqrt(hid * cfg.rmsNormEps());
        Layer[] layers = new Layer[cfg.numLayers()];
        NDArray embed;
        NDArray lmHead;
        NDArray lmScale = null;
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            Loader in = new Loader(reader, cpu, manager, dt);
            // Row scale of the fused qkv matrix: head_dim^-0.5 on the q rows.
            float scale = (float) Math.pow(d, -0.5);
            float[] rowScale = new float[(h + 2 * kv) * d];
            for (int i = 0; i < rowScale.length; i++) {
                rowScale[i] = i < h * d ? scale : 1f;
            }
            NDArray rowScaleArr = cpu.create(rowScale, new Shape(rowScale.length, 1));
            for (int l = 0; l < cfg.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray inNorm = in.f32(p + "input_layernorm.weight", hid).mul(sqrtHidden).reshape(1, hid);
                    NDArray postNorm = in.f32(p + "post_attention_layernorm.weight", hid).mul(sqrtHidden).reshape(1, hid);
                    NDArray qkv;
                    NDArray gateUp;
                    if (cfg.architecture() == Architecture.PHI3) {
                        qkv = in.f32(p + "self_attn.qkv_proj.weight", (long) (h + 2 * kv) * d, hid);
                        gateUp = in.f32(p + "mlp.gate_up_proj.weight", 2L * inter, hid);
                    } else {
                        qkv = in.f32(p + "self_attn.q_proj.weight", (long) h * d, hid)
                                .concat(in.f32(p + "self_attn.k_proj.weight", (long) kv * d, hid), 0)
                                .concat(in.f32(p + "self_attn.v_proj.weight", (long) kv * d, hid), 0);
                        gateUp = in.f32(p + "mlp.gate_proj.weight", inter, hid)
                                .concat(in.f32(p + "mlp.up_proj.weight", inter, hid), 0);
                    }
                    qkv = zeroColumn(qkv.mul(rowScaleArr).mul(inNorm));
                    gateUp = zeroColumn(gateUp.mul(postNorm));
                    NDArray qkvBias = null;
                    if (cfg.qkvBias()) {
                        qkvBias = in.f32(p + "self_attn.q_proj.bias", (long) h * d)
                                .concat(in.f32(p + "self_attn.k_proj.bias", (long) kv * d), 0)
                                .concat(in.f32(p + "self_attn.v_proj.bias", (long) kv * d), 0)
                                .mul(rowScaleArr.reshape(-1));
                    }
                    NDArray out = zeroRow(in.f32(p + "self_attn.o_proj.weight", hid, (long) h * d));
                    NDArray outBias = null;
                    if (cfg.outputBias()) {
                        outBias = in.f32(p + "self_attn.o_proj.bias", hid).concat(cpu.zeros(new Shape(1)), 0);
                    }
                    NDArray down = zeroRow(in.f32(p + "mlp.down_proj.weight", hid, inter));
                    layers[l] = new Layer(in.keep(qkv), qkvBias == null ? null : in.keep(qkvBias), in.keep(out),
                            outBias == null ? null : in.keep(outBias), in.keep(gateUp), in.keep(down));
                }
            }
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray e = in.f32("model.embed_tokens.weight", vocab, hid);
                embed = in.keep(e.concat(cpu.full(new Shape(vocab, 1), c), 1));
                NDArray finalNorm = in.f32("model.norm.weight", hid).mul(sqrtHidden);
                boolean tied = cfg.tieWordEmbeddings() && !reader.contains("lm_head.weight");
                if (tied) {
                    lmScale = in.keep(finalNorm);
                    lmHead = Tensors.keep(embed.get(":, 0:" + hid), manager);
                } else {
                    if (!reader.contains("lm_head.weight")) {
                        throw new FusionException("tensor 'lm_head.weight' is missing from the checkpoint and config.json"
                                + " has tie_word_embeddings false");
                    }
                    lmHead = in.keep(zeroColumn(in.f32("lm_head.weight", vocab, hid).mul(finalNorm.reshape(1, hid))));
                }
            }
        }
        // RoPE tables, rotate_half as a matrix and the head masks.
        float[] inv = cfg.inverseFrequencies();
        int half = d / 2;
        float[] cos = new float[maxContext * d];
        float[] sin = new float[maxContext * d];
        for (int pos = 0; pos < maxContext; pos++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) pos * inv[i];
                float cv = (float) Math.cos(angle);
                float sv = (float) Math.sin(angle);
                cos[pos * d + i] = cv;
                cos[pos * d + i + half] = cv;
                sin[pos * d + i] = sv;
                sin[pos * d + i + half] = sv;
            }
        }
        float[] rot = new float[d * d];
        for (int j = 0; j < half; j++) {
            rot[(j + half) * d + j] = -1f; // out[j] = -x[j + half]
            rot[j * d + j + half] = 1f; // out[j + half] = x[j]
        }
        int heads = cfg.projectedHeads();
        float[] ropeMask = new float[heads];
        float[] valueMask = new float[heads];
        for (int i = 0; i < heads; i++) {
            boolean rope = i < h + kv;
            ropeMask[i] = rope ? 1f : 0f;
            valueMask[i] = rope ? 0f : 1f;
        }
        NDArray cosTable = constant(manager, cos, new Shape(maxContext, 1, d), dt);
        NDArray sinTable = constant(manager, sin, new Shape(maxContext, 1, d), dt);
        NDArray rotation = constant(manager, rot, new Shape(d, d), dt);
        NDArray ropeHeads = constant(manager, ropeMask, new Shape(heads, 1), dt);
        NDArray valueHeads = constant(manager, valueMask, new Shape(heads, 1), dt);
        return new Transformer(cfg, manager, dt, maxContext, (float) (1 / calibrationTemperature), embed, lmHead, lmScale,
                layers, cosTable, sinTable, rotation, ropeHeads, valueHeads);
    }

    private static NDArray constant(NDManager manager, float[] data, Shape shape, DataType dt) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray a = manager.create(data, shape).toType(dt, false);
            return Tensors.keep(a, manager);
        }
    }

    private static NDArray zeroColumn(NDArray w) {
        return w.concat(w.getManager().zeros(new Shape(w.getShape().get(0), 1)), 1);
    }

    private static NDArray zeroRow(NDArray w) {
        return w.concat(w.getManager().zeros(new Shape(1, w.getShape().get(1))), 0);
    }

    /** Reads checkpoint tensors as float32 on the CPU and moves finished weights to the model's device and dtype. */
    private static final class Loader {
        private final SafetensorsReader reader;
        private final NDManager cpu;
        private final NDManager target;
        private final DataType dtype;

        Loader(SafetensorsReader reader, NDManager cpu, NDManager target, DataType dtype) {
            this.reader = reader;
            this.cpu = cpu;
            this.target = target;
            this.dtype = dtype;
        }

        NDArray f32(String name, long... shape) {
            ByteBuffer data = reader.read(name, shape);
            SafetensorsReader.Dtype type = reader.dtype(reader.entry(name));
            if (type != SafetensorsReader.Dtype.F32) {
                // DJL cannot create half-precision arrays from a buffer; widen to float32 here (exact).
                data = SafetensorsReader.widenToFloat32(data, type);
            }
            NDArray raw = cpu.create(data, new Shape(shape), DataType.FLOAT32);
            // A copy, so that nothing refers to the read buffer afterwards.
            return raw.toType(DataType.FLOAT32, true);
        }

        NDArray keep(NDArray a) {
            NDArray moved = a.toDevice(target.getDevice(), true).toType(dtype, false);
            return Tensors.keep(moved, target);
        }
    }

    // ---------------------------------------------------------------------------------------------------- passes

    /**
     * The cached keys and values a forward attends to: per layer {@code [1, capacity, kvHeads, headDim]}, of which the
     * first {@code length} positions hold the tokens before the new ones.
     */
    record Past(NDArray[] layerKeys, NDArray[] layerValues, int length) {
        Past {
            requireNonNull(layerKeys, "layerKeys is null");
            requireNonNull(layerValues, "layerValues is null");
        }
    }

    /**
     * New tokens, row-major {@code [rows][width]}: each row's first {@code lengths[r]} ids are real, the rest padding.
     */
    record Batch(long[] ids, int rows, int width, int[] lengths) {
        Batch {
            requireNonNull(ids, "ids is null");
            requireNonNull(lengths, "lengths is null");
            if (rows < 1 || width < 1 || ids.length != rows * width || lengths.length != rows) {
                throw new IllegalArgumentException("a batch of " + rows + " x " + width + " needs as many ids and "
                        + rows + " lengths, got " + ids.length + " ids and " + lengths.length + " lengths");
            }
        }

        /** One row of tokens. */
        static Batch of(long[] ids) {
            return new Batch(ids, 1, ids.length, new int[] {ids.length});
        }

        /** Rows of different lengths (each non-empty), padded to the longest. */
        static Batch padded(List<long[]> rows) {
            int width = 0;
            for (long[] row : rows) {
                width = Math.max(width, row.length);
            }
            long[] ids = new long[rows.size() * width];
            int[] lengths = new int[rows.size()];
            for (int r = 0; r < lengths.length; r++) {
                long[] row = rows.get(r);
                lengths[r] = row.length;
                System.arraycopy(row, 0, ids, r * width, row.length);
            }
            return new Batch(ids, rows.size(), width, lengths);
        }
    }

    /** Where the keys and values of a forward's new tokens go. */
    enum NewKeys {
        /** Into the past's arrays right after its {@code length} positions (a single row; the caller made room). */
        STORE,
        /** Back to the caller as a {@link NewKv} segment {@code [layers, rows, width, kvHeads, headDim]}. */
        SEGMENT,
        /** Nowhere: they serve the forward's own attention only. */
        DROP
    }

    /** What a forward reads out of its (calibrated) logits. */
    sealed interface Readout {
        /** The log-probs after the last token of a single row. */
        Readout LAST = new Last();
        /** Every row's log-probs of its own next tokens, and the log-probs after its last real token. */
        Readout TARGETS = new Targets();

        /** See {@link #LAST}. */
        record Last() implements Readout {}

        /** See {@link #TARGETS}. */
        record Targets() implements Readout {}

        /**
         * The summed NLL of a single row's own next tokens under {@code softmax(calibrated logits / T)}, for each
         * temperature T, computed by the engine where the logits are.
         */
        record TemperedNll(double[] temperatures) implements Readout {
            public TemperedNll {
                requireNonNull(temperatures, "temperatures is null");
            }
        }
    }

    /** One forward: new tokens of {@code batch} after {@code past}, where their keys and values go, what is read. */
    record Pass(Past past, Batch batch, NewKeys newKeys, Readout readout) {
        Pass {
            requireNonNull(past, "past is null");
            requireNonNull(batch, "batch is null");
            requireNonNull(newKeys, "newKeys is null");
            requireNonNull(readout, "readout is null");
            if (newKeys == NewKeys.STORE && batch.rows() != 1) {
                throw new IllegalArgumentException("writing new keys into the store needs a single row");
            }
            if (newKeys != NewKeys.STORE && past.length() < 1) {
                throw new IllegalArgumentException("a forward beside the store needs a non-empty prefix");
            }
            if (!(readout instanceof Readout.Targets) && batch.rows() != 1) {
                throw new IllegalArgumentException(readout + " needs a single row");
            }
        }

        /** A prompt's prefill or a decode step in place: one row written into the store, the log-probs after it. */
        static Pass extend(Past past, long[] ids) {
            return new Pass(past, Batch.of(ids), NewKeys.STORE, Readout.LAST);
        }

        /** A decode step beside the store (another state holds its tail): its keys and values return as a segment. */
        static Pass branch(Past past, long token) {
            return new Pass(past, Batch.of(new long[] {token}), NewKeys.SEGMENT, Readout.LAST);
        }

        /** Candidates scored token by token in one batched forward, their keys and values going to {@code newKeys}. */
        static Pass score(Past past, Batch candidates, NewKeys newKeys) {
            return new Pass(past, candidates, newKeys, Readout.TARGETS);
        }

        /** The NLLs of one row of tokens at several temperatures; nothing is kept. */
        static Pass temperedNll(Past past, long[] ids, double[] temperatures) {
            return new Pass(past, Batch.of(ids), NewKeys.DROP, new Readout.TemperedNll(temperatures));
        }
    }

    /** The new keys and values of a {@link NewKeys#SEGMENT} forward, in their own manager. */
    record NewKv(NDManager manager, NDArray keys, NDArray values) implements AutoCloseable {
        @Override
        public void close() {
            manager.close();
        }
    }

    /**
     * What a forward returns; what its pass did not ask for is null.
     *
     * @param lastLogProbs   per row, the log-probs after its last real token ({@link Readout#LAST}, {@link
     *                       Readout#TARGETS})
     * @param targetLogProbs row-major {@code [rows][width]}: at {@code t} the log-prob of the row's token {@code t + 1}
     *                       (padding positions hold nothing meaningful) ({@link Readout#TARGETS})
     * @param newKv          the new keys and values ({@link NewKeys#SEGMENT})
     * @param temperedNll    per temperature ({@link Readout.TemperedNll})
     */
    record Output(float[][] lastLogProbs, float[] targetLogProbs, NewKv newKv, double[] temperedNll) {}

    // ---------------------------------------------------------------------------------------------------- forward

    /**
     * The layout of one forward: batch shape, where the new positions are, their rotary factors and causal mask, and
     * the new keys and values collected for a segment (null unless {@link NewKeys#SEGMENT}).
     */
    private record Frame(Pass pass, int rows, int width, int past, int total, NDArray ropeCos, NDArray ropeSin,
            NDArray mask, List<NDArray> newKeys, List<NDArray> newValues) {}

    /** Runs one pass: the model over its new tokens, reading out what it asks for. */
    Output forward(Pass pass) {
        int total = pass.past().length() + pass.batch().width();
        if (total > maxContext) {
            throw new FusionException("sequence of " + total + " tokens exceeds the max context of " + maxContext);
        }
        NewKv newKv = null;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Frame f = frame(pass);                       // rotary factors and causal mask of the new positions
            NDArray x = embed(pass.batch());             // token embeddings: residual stream [rows, width, hidden + 1]
            for (int l = 0; l < layers.length; l++) {
                attention(f, l, x);                      // x += attention(norm(x)), with the cached keys and values
                mlp(layers[l], x);                       // x += down(silu(gate(norm(x))) * up(norm(x)))
            }
            newKv = keepNewKv(f);                        // the segment, if asked for, outlives this scope
            NDArray logits = logits(f, x);               // final norm and output projection (float32)
            NDArray scaled = logitScale == 1f ? logits : logits.mul(logitScale); // calibration temperature
            return read(f, scaled, newKv);               // log-softmax and the log-probs asked for
        } catch (RuntimeException e) {
            if (newKv != null) {
                newKv.close();
            }
            throw e;
        }
    }

    private Frame frame(Pass pass) {
        int rows = pass.batch().rows();
        int width = pass.batch().width();
        int past = pass.past().length();
        int total = past + width;
        // RoPE factors for positions past..total-1: [width, heads, d]
        long[] ropeMin = {past, 0, 0};
        long[] ropeMax = {total, 1, d};
        NDArray ropeCos = Tensors.slice(cosTable, ropeMin, ropeMax).mul(ropeHeads).addi(valueHeads);
        NDArray ropeSin = Tensors.slice(sinTable, ropeMin, ropeMax).mul(ropeHeads);
        boolean inStore = pass.newKeys() == NewKeys.STORE;
        NDArray mask = width > 1 ? causalMask(inStore ? total : width, inStore ? past : 0, width) : null;
        boolean segment = pass.newKeys() == NewKeys.SEGMENT;
        return new Frame(pass, rows, width, past, total, ropeCos, ropeSin, mask,
                segment ? new ArrayList<>() : null, segment ? new ArrayList<>() : null);
    }

    /** Token embeddings, each followed by the residual stream's norm constant: {@code [rows, width, hidden + 1]}. */
    private NDArray embed(Batch batch) {
        NDArray input = manager.create(batch.ids(), new Shape(batch.rows(), batch.width()));
        return input.getNDArrayInternal().embedding(input, embed, SparseFormat.DENSE).singletonOrThrow();
    }

    /** The attention block of layer {@code l}, in place on the residual stream {@code x}. */
    private void attention(Frame f, int l, NDArray x) {
        Layer layer = layers[l];
        NDArray qkv = linear(norm(x), layer.qkv, layer.qkvBias).reshape(f.rows, f.width, heads, d); // norm, q/k/v
        NDArray rotated = qkv.matMul(rotation).muli(f.ropeSin).addi(qkv.mul(f.ropeCos)); // rotary on q and k heads
        NDList parts = rotated.split(new long[] {h, h + kv}, 2);
        NDArray q = groupQueries(f, parts.get(0));       // queries by the key/value head they share
        NDArray k = parts.get(1);
        NDArray v = parts.get(2);
        NDArray o = f.pass.newKeys() == NewKeys.STORE
                ? attendInStore(f, l, q, k, v)           // cache write, then attention over the store
                : attendBeside(f, l, q, k, v);           // attention over the store's prefix and the new keys
        x.addi(linear(mergeHeads(f, o), layer.out, layer.outBias)); // output projection, residual
    }

    /**
     * The q heads as {@code [rows, kvHeads, group * width, d]}: query {@code t} of group member {@code j} is row
     * {@code j * width + t}.
     */
    private NDArray groupQueries(Frame f, NDArray q) {
        return f.width == 1
                ? q.reshape(f.rows, kv, g, d)
                : q.reshape(f.rows, f.width, kv, g, d).transpose(0, 2, 3, 1, 4).reshape(f.rows, kv, g * f.width, d);
    }

    /** The attention output back as {@code [rows, width, heads * d]}. */
    private NDArray mergeHeads(Frame f, NDArray o) {
        return f.width == 1
                ? o.reshape(f.rows, 1, (long) h * d)
                : o.reshape(f.rows, kv, g, f.width, d).transpose(0, 3, 1, 2, 4).reshape(f.rows, f.width, (long) h * d);
    }

    /** Writes the new keys and values into the store after the past, then attends over positions {@code [0, total)}. */
    private NDArray attendInStore(Frame f, int l, NDArray q, NDArray k, NDArray v) {
        NDArray keys = f.pass.past().layerKeys()[l];
        NDArray values = f.pass.past().layerValues()[l];
        long[] all = {1, f.total, kv, d};
        Tensors.write(keys, k, new long[] {0, f.past, 0, 0}, all);
        Tensors.write(values, v, new long[] {0, f.past, 0, 0}, all);
        NDArray keysT = Tensors.slice(keys, new long[4], all).transpose(0, 2, 3, 1);
        NDArray vals = Tensors.slice(values, new long[4], all).transpose(0, 2, 1, 3);
        NDArray scores = q.matMul(keysT);
        if (f.mask != null) {
            scores.addi(f.mask);
        }
        return scores.softmax(-1).matMul(vals);
    }

    /**
     * Attends over the store's first {@code past} positions (read only) and the new keys and values, with one softmax
     * over both; keeps the new ones for a segment if the pass asks for it.
     */
    private NDArray attendBeside(Frame f, int l, NDArray q, NDArray k, NDArray v) {
        long[] prefix = {1, f.past, kv, d};
        NDArray keysT = Tensors.slice(f.pass.past().layerKeys()[l], new long[4], prefix).transpose(0, 2, 3, 1);
        NDArray vals = Tensors.slice(f.pass.past().layerValues()[l], new long[4], prefix).transpose(0, 2, 1, 3);
        NDArray pastScores = q.matMul(keysT);
        NDArray newScores = q.matMul(k.transpose(0, 2, 3, 1));
        if (f.mask != null) {
            newScores.addi(f.mask);
        }
        NDList probs = pastScores.concat(newScores, -1).softmax(-1).split(new long[] {f.past}, 3);
        if (f.newKeys != null) {
            f.newKeys.add(k);
            f.newValues.add(v);
        }
        return probs.get(0).matMul(vals).addi(probs.get(1).matMul(v.transpose(0, 2, 1, 3)));
    }

    /** The MLP block, in place on the residual stream {@code x}. */
    private void mlp(Layer layer, NDArray x) {
        NDList gateUp = linear(norm(x), layer.gateUp, null).split(2, 2); // norm, gate and up projections
        NDArray gate = gateUp.get(0);
        NDArray act = gate.getNDArrayInternal().sigmoid().muli(gate).muli(gateUp.get(1)); // silu(gate) * up
        x.addi(linear(act, layer.down, null));           // down projection, residual
    }

    /** Stacks the new keys and values of every layer into a segment in its own manager, if the pass asks for one. */
    private NewKv keepNewKv(Frame f) {
        if (f.newKeys == null) {
            return null;
        }
        NDManager m = manager.newSubManager();
        try {
            NDArray keys = Tensors.keep(NDArrays.stack(new NDList(f.newKeys), 0), m);
            NDArray values = Tensors.keep(NDArrays.stack(new NDList(f.newValues), 0), m);
            return new NewKv(m, keys, values);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** The final norm and output projection of the positions the readout needs, as float32. */
    private NDArray logits(Frame f, NDArray x) {
        NDArray read = f.pass.readout() instanceof Readout.Last && f.width > 1
                ? Tensors.slice(x, new long[] {0, f.width - 1, 0}, new long[] {f.rows, f.width, cfg.hiddenSize() + 1})
                : x;
        NDArray logits = head(norm(read));
        return logits.getDataType() == DataType.FLOAT32 ? logits : logits.toType(DataType.FLOAT32, false);
    }

    private Output read(Frame f, NDArray scaled, NewKv newKv) {
        if (f.pass.readout() instanceof Readout.TemperedNll tempered) {
            return new Output(null, null, newKv, temperedNll(f, scaled, tempered.temperatures()));
        }
        NDArray logProbs = scaled.logSoftmax(-1);
        if (f.pass.readout() instanceof Readout.Last) {
            return new Output(new float[][] {logProbs.toFloatArray()}, null, newKv, null);
        }
        int vocab = cfg.vocabSize();
        float[] targets = logProbs.gather(nextIds(f.pass.batch()), 2).toFloatArray();
        long[] lastIndex = new long[f.rows];
        for (int r = 0; r < f.rows; r++) {
            lastIndex[r] = f.pass.batch().lengths()[r] - 1;
        }
        NDArray index = manager.create(lastIndex, new Shape(f.rows, 1, 1)).broadcast(f.rows, 1, vocab);
        float[] flat = logProbs.gather(index, 1).toFloatArray();
        float[][] last = new float[f.rows][];
        for (int r = 0; r < f.rows; r++) {
            last[r] = Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
        }
        return new Output(last, targets, newKv, null);
    }

    /** For each temperature, {@code -sum_t log_softmax(scaled / T)[t, ids[t + 1]]} over the single row. */
    private double[] temperedNll(Frame f, NDArray scaled, double[] temperatures) {
        double[] nll = new double[temperatures.length];
        int length = f.pass.batch().lengths()[0];
        if (length > 1) {
            NDArray nextIds = nextIds(f.pass.batch());
            for (int i = 0; i < temperatures.length; i++) {
                NDArray picked = scaled.div((float) temperatures[i]).logSoftmax(-1).gather(nextIds, 2);
                nll[i] = -Tensors.slice(picked, new long[3], new long[] {1, length - 1, 1}).sum()
                        .toType(DataType.FLOAT64, false).getDouble();
            }
        }
        return nll;
    }

    /** Each position's next token in its row (0 after the row's last real token): {@code [rows, width, 1]}. */
    private NDArray nextIds(Batch batch) {
        int width = batch.width();
        long[] next = new long[batch.rows() * width];
        for (int r = 0; r < batch.rows(); r++) {
            for (int t = 0; t + 1 < batch.lengths()[r]; t++) {
                next[r * width + t] = batch.ids()[r * width + t + 1];
            }
        }
        return manager.create(next, new Shape(batch.rows(), width, 1));
    }

    private NDArray norm(NDArray x) {
        if (halfNorm) {
            return x.toType(DataType.FLOAT32, false).normalize(2, -1, NORM_EPS).toType(dtype, false);
        }
        return x.normalize(2, -1, NORM_EPS);
    }

    private static NDArray linear(NDArray x, NDArray w, NDArray b) {
        return x.getNDArrayInternal().linear(x, w, b).singletonOrThrow();
    }

    private NDArray head(NDArray normed) {
        if (lmScale == null) {
            return linear(normed, lmHead, null);
        }
        NDArray x = normed.get("..., 0:" + cfg.hiddenSize()).mul(lmScale);
        return linear(x, lmHead, null);
    }

    /**
     * An additive mask {@code [group * tokens, keys]}: row {@code j * tokens + t} (query token t of group member j)
     * sees keys {@code 0 .. offset + t}.
     */
    private NDArray causalMask(int keys, int offset, int tokens) {
        int group = g;
        float[] m = new float[group * tokens * keys];
        for (int j = 0; j < group; j++) {
            for (int t = 0; t < tokens; t++) {
                int row = (j * tokens + t) * keys;
                for (int k = offset + t + 1; k < keys; k++) {
                    m[row + k] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        NDArray mask = manager.create(m, new Shape(group * tokens, keys));
        return mask.getDataType() == dtype ? mask : mask.toType(dtype, false);
    }

    @Override
    public void close() {
        manager.close();
    }
}
