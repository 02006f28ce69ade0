package dev.coolfusion.djl.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.coolfusion.djl.model.ModelConfig.Architecture;
import dev.coolfusion.spi.FusionException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
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
 * <p>Every forward runs in an {@link NDScope}; only the arrays it hands back survive it.
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

    private record Layer(NDArray qkv, NDArray qkvBias, NDArray out, NDArray outBias, NDArray gateUp, NDArray down) {}

    /** What a forward returns. */
    record Output(float[][] lastLogProbs, float[] targetLogProbs, KvSegment segment, float[] logits,
            double[] temperedNll) {}

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
                    lmHead = keepInScope(embed.get(":, 0:" + hid), manager);
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
            return keepInScope(a, manager);
        }
    }

    private static NDArray keepInScope(NDArray a, NDManager target) {
        NDScope.unregister(a);
        a.attach(target);
        return a;
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
            return keepInScope(moved, target);
        }
    }

    // ---------------------------------------------------------------------------------------------------- storage

    KvStore newStore(int capacity) {
        NDManager m = manager.newSubManager();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Shape shape = new Shape(cfg.numLayers(), 1, capacity, cfg.numKvHeads(), cfg.headDim());
            NDArray k = keepInScope(m.create(shape, dtype), m);
            NDArray v = keepInScope(m.create(shape, dtype), m);
            NDArray[] lk = new NDArray[cfg.numLayers()];
            NDArray[] lv = new NDArray[cfg.numLayers()];
            for (int l = 0; l < lk.length; l++) {
                lk[l] = keepInScope(k.get(l), m);
                lv[l] = keepInScope(v.get(l), m);
            }
            return new KvStore(m, k, v, lk, lv, capacity);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Copies positions {@code [0, n)} of every layer from one store to another. */
    void copyPrefix(KvStore from, KvStore to, int n) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] min = {0, 0, 0, 0, 0};
            long[] max = {cfg.numLayers(), 1, n, cfg.numKvHeads(), cfg.headDim()};
            long[] step = {1, 1, 1, 1, 1};
            JniUtils.indexSet(pt(to.keys), slice(from.keys, min, max), min, max, step);
            JniUtils.indexSet(pt(to.values), slice(from.values, min, max), min, max, step);
        }
    }

    /** Writes {@code length} positions of one segment row into a store at position {@code at}. */
    void writeSegment(KvSegment segment, int row, int length, KvStore to, int at) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            long[] srcMin = {0, row, 0, 0, 0};
            long[] srcMax = {cfg.numLayers(), row + 1, length, cfg.numKvHeads(), cfg.headDim()};
            long[] dstMin = {0, 0, at, 0, 0};
            long[] dstMax = {cfg.numLayers(), 1, at + length, cfg.numKvHeads(), cfg.headDim()};
            long[] step = {1, 1, 1, 1, 1};
            JniUtils.indexSet(pt(to.keys), slice(segment.keys, srcMin, srcMax), dstMin, dstMax, step);
            JniUtils.indexSet(pt(to.values), slice(segment.values, srcMin, srcMax), dstMin, dstMax, step);
        }
    }

    private static PtNDArray pt(NDArray a) {
        return (PtNDArray) a;
    }

    private static PtNDArray slice(NDArray a, long[] min, long[] max) {
        long[] step = new long[min.length];
        java.util.Arrays.fill(step, 1);
        PtNDArray p = pt(a);
        return JniUtils.index(p, min, max, step, (PtNDManager) p.getManager());
    }

    // ---------------------------------------------------------------------------------------------------- forward

    /**
     * Runs {@code rows x tokens} new tokens after the first {@code past} positions of {@code store}.
     *
     * @param store     the keys and values of the prefix
     * @param past      how many positions of the store precede the new tokens
     * @param ids       the new tokens, row-major {@code [rows][tokens]}; rows shorter than {@code tokens} are padded
     * @param rows      batch size
     * @param tokens    padded length
     * @param lengths   each row's real length
     * @param append    true: write the new keys and values into the store at {@code past} (rows must be 1); false:
     *                  return them as a segment
     * @param allTokens true: log-probs of each row's own next tokens ({@code targetLogProbs}) and of the
     *                  distribution after its last real token; false: only the latter, for the last position of a
     *                  single row
     * @param rawLogits also return the raw (uncalibrated) logits of every computed position (for tests)
     */
    Output forward(KvStore store, int past, long[] ids, int rows, int tokens, int[] lengths, boolean append,
            boolean allTokens, boolean rawLogits) {
        return forward(store, past, ids, rows, tokens, lengths, append, allTokens, rawLogits, null);
    }

    /**
     * As {@link #forward(KvStore, int, long[], int, int, int[], boolean, boolean, boolean)}, and with
     * {@code temperatures} (a single row, {@code allTokens}) also the summed NLL of the row's own next tokens under
     * {@code softmax(calibrated logits / T)} for each temperature, computed by the engine where the logits are.
     */
    Output forward(KvStore store, int past, long[] ids, int rows, int tokens, int[] lengths, boolean append,
            boolean allTokens, boolean rawLogits, double[] temperatures) {
        if (temperatures != null && (rows != 1 || !allTokens)) {
            throw new IllegalArgumentException("tempered NLLs need a single row and all tokens");
        }
        if (append && rows != 1) {
            throw new IllegalArgumentException("append needs a single row");
        }
        if (!append && past < 1) {
            throw new IllegalArgumentException("a segment forward needs a non-empty prefix");
        }
        int total = past + tokens;
        if (total > maxContext) {
            throw new FusionException("sequence of " + total + " tokens exceeds the max context of " + maxContext);
        }
        int h = cfg.numHeads();
        int kv = cfg.numKvHeads();
        int g = cfg.groupSize();
        int d = cfg.headDim();
        int heads = cfg.projectedHeads();
        int hid = cfg.hiddenSize();
        NDManager segmentManager = null;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray input = manager.create(ids, new Shape(rows, tokens));
            NDArray x = input.getNDArrayInternal().embedding(input, embed, SparseFormat.DENSE).singletonOrThrow();
            // RoPE factors for positions past..past+tokens-1: [tokens, heads, d]
            long[] ropeMin = {past, 0, 0};
            long[] ropeMax = {total, 1, d};
            NDArray cosS = slice(cosTable, ropeMin, ropeMax);
            NDArray sinS = slice(sinTable, ropeMin, ropeMax);
            NDArray ropeCos = cosS.mul(ropeHeads).addi(valueHeads);
            NDArray ropeSin = sinS.mul(ropeHeads);
            NDArray mask = null;
            if (tokens > 1) {
                mask = causalMask(append ? total : tokens, append ? past : 0, tokens, g);
            }
            List<NDArray> segKeys = append ? null : new ArrayList<>();
            List<NDArray> segValues = append ? null : new ArrayList<>();
            long[] step4 = {1, 1, 1, 1};
            for (int l = 0; l < layers.length; l++) {
                Layer layer = layers[l];
                NDArray y = linear(norm(x), layer.qkv, layer.qkvBias).reshape(rows, tokens, heads, d);
                NDArray yr = y.matMul(rotation).muli(ropeSin).addi(y.mul(ropeCos));
                NDList parts = yr.split(new long[] {h, h + kv}, 2);
                NDArray q = parts.get(0);
                NDArray k = parts.get(1);
                NDArray v = parts.get(2);
                NDArray qg = tokens == 1
                        ? q.reshape(rows, kv, g, d)
                        : q.reshape(rows, tokens, kv, g, d).transpose(0, 2, 3, 1, 4).reshape(rows, kv, g * tokens, d);
                NDArray o;
                if (append) {
                    long[] min = {0, past, 0, 0};
                    long[] max = {1, total, kv, d};
                    JniUtils.indexSet(pt(store.layerKeys[l]), pt(k), min, max, step4);
                    JniUtils.indexSet(pt(store.layerValues[l]), pt(v), min, max, step4);
                    long[] all = {1, total, kv, d};
                    NDArray keysT = slice(store.layerKeys[l], new long[4], all).transpose(0, 2, 3, 1);
                    NDArray vals = slice(store.layerValues[l], new long[4], all).transpose(0, 2, 1, 3);
                    NDArray scores = qg.matMul(keysT);
                    if (mask != null) {
                        scores.addi(mask);
                    }
                    o = scores.softmax(-1).matMul(vals);
                } else {
                    long[] prefix = {1, past, kv, d};
                    NDArray keysT = slice(store.layerKeys[l], new long[4], prefix).transpose(0, 2, 3, 1);
                    NDArray vals = slice(store.layerValues[l], new long[4], prefix).transpose(0, 2, 1, 3);
                    NDArray pastScores = qg.matMul(keysT);
                    NDArray newScores = qg.matMul(k.transpose(0, 2, 3, 1));
                    if (mask != null) {
                        newScores.addi(mask);
                    }
                    NDList probs = pastScores.concat(newScores, -1).softmax(-1).split(new long[] {past}, 3);
                    o = probs.get(0).matMul(vals).addi(probs.get(1).matMul(v.transpose(0, 2, 1, 3)));
                    segKeys.add(k);
                    segValues.add(v);
                }
                NDArray attn = tokens == 1
                        ? o.reshape(rows, 1, (long) h * d)
                        : o.reshape(rows, kv, g, tokens, d).transpose(0, 3, 1, 2, 4).reshape(rows, tokens, (long) h * d);
                x.addi(linear(attn, layer.out, layer.outBias));
                NDList gu = linear(norm(x), layer.gateUp, null).split(2, 2);
                NDArray gate = gu.get(0);
                NDArray act = gate.getNDArrayInternal().sigmoid().muli(gate).muli(gu.get(1));
                x.addi(linear(act, layer.down, null));
            }
            NDArray last = allTokens || tokens == 1
                    ? x
                    : slice(x, new long[] {0, tokens - 1, 0}, new long[] {rows, tokens, hid + 1});
            NDArray logits = head(norm(last));
            if (logits.getDataType() != DataType.FLOAT32) {
                logits = logits.toType(DataType.FLOAT32, false);
            }
            NDArray logProbs = (logitScale == 1f ? logits : logits.mul(logitScale)).logSoftmax(-1);
            int vocab = cfg.vocabSize();
            float[][] lastLogProbs = new float[rows][];
            float[] targets = null;
            double[] tempered = temperatures == null ? null : new double[temperatures.length];
            if (allTokens) {
                long[] next = new long[rows * tokens];
                long[] lastIndex = new long[rows];
                for (int r = 0; r < rows; r++) {
                    for (int t = 0; t + 1 < lengths[r]; t++) {
                        next[r * tokens + t] = ids[r * tokens + t + 1];
                    }
                    lastIndex[r] = lengths[r] - 1;
                }
                NDArray nextIds = manager.create(next, new Shape(rows, tokens, 1));
                targets = logProbs.gather(nextIds, 2).toFloatArray();
                if (temperatures != null && lengths[0] > 1) {
                    NDArray scaled = logitScale == 1f ? logits : logits.mul(logitScale);
                    for (int i = 0; i < temperatures.length; i++) {
                        NDArray picked = scaled.div((float) temperatures[i]).logSoftmax(-1).gather(nextIds, 2);
                        tempered[i] = -slice(picked, new long[3], new long[] {1, lengths[0] - 1, 1}).sum()
                                .toType(DataType.FLOAT64, false).getDouble();
                    }
                }
                NDArray index = manager.create(lastIndex, new Shape(rows, 1, 1)).broadcast(rows, 1, vocab);
                float[] flat = logProbs.gather(index, 1).toFloatArray();
                for (int r = 0; r < rows; r++) {
                    lastLogProbs[r] = java.util.Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
                }
            } else {
                if (rows != 1) {
                    throw new IllegalArgumentException("last-token output needs a single row");
                }
                lastLogProbs[0] = logProbs.toFloatArray();
            }
            float[] raw = rawLogits ? logits.toFloatArray() : null;
            KvSegment segment = null;
            if (!append) {
                segmentManager = manager.newSubManager();
                NDArray keys = keepInScope(NDArrays.stack(segKeys), segmentManager);
                NDArray values = keepInScope(NDArrays.stack(segValues), segmentManager);
                segment = new KvSegment(segmentManager, keys, values);
            }
            return new Output(lastLogProbs, targets, segment, raw, tempered);
        } catch (RuntimeException e) {
            if (segmentManager != null) {
                segmentManager.close();
            }
            throw e;
        }
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
    private NDArray causalMask(int keys, int offset, int tokens, int group) {
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

    /** Stacks arrays along a new first axis. */
    private static final class NDArrays {
        static NDArray stack(List<NDArray> arrays) {
            return ai.djl.ndarray.NDArrays.stack(new NDList(arrays), 0);
        }
    }
}
