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
 * A decoder-only transformer (Llama, Mistral, Qwen 2 and 3, Phi-3, GLM and GLM-4, Gemma 2 and 3) on DJL's PyTorch
 * engine, with Hugging Face semantics.
 *
 * <p>Weights are rearranged once at load time so that a decode step needs few engine calls:
 * <ul>
 *   <li>q, k and v projections are one matrix; the attention scale ({@code head_dim^-0.5}, or Gemma's
 *       {@code query_pre_attn_scalar^-0.5}, divided by the attention soft-cap if there is one) is folded into the q
 *       rows, or into the q norm's weights where queries are normalised per head.</li>
 *   <li>Every RMSNorm weight that feeds a projection is folded into it. The residual stream carries one extra
 *       constant element {@code c = sqrt(hidden * eps)}, so that {@code F.normalize([x, c]) * sqrt(hidden)} equals
 *       {@code x * rsqrt(mean(x^2) + eps)} on the first {@code hidden} elements: one call per norm. Projections
 *       that read the stream get a zero column for it, projections that write it a zero row (or, before a norm of
 *       their own output, a bias of c there). Gemma's {@code (1 + w)} norms fold the same way.</li>
 *   <li>gate and up projections are one matrix.</li>
 *   <li>RoPE: {@code x * cos + rotate(x) * sin} with {@code rotate} as a matmul by a signed permutation (halves, or
 *       GLM's interleaved pairs over its rotary part), applied to all q, k and v heads at once with cos = 1 and
 *       sin = 0 for the v heads and for dimensions that do not rotate.</li>
 * </ul>
 *
 * <p>A forward is described by a {@link Pass}: the new tokens, the cached keys and values before them ({@link Past}),
 * where the new keys and values go ({@link NewKeys}) and what is read out ({@link Readout}). The cache's bookkeeping
 * (which store, how long, who shares it) is {@link KvCache}'s; this class only sees tensors. Every forward runs in an
 * {@link NDScope}; only the arrays it hands back survive it. A sliding-window layer reads only the keys its queries'
 * windows reach. Longrope's factors are chosen by the caller with the past ({@link #usesLongFactors}).
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
    /** Gemma's MLP activation, GELU with the tanh approximation (else SiLU). */
    private final boolean gelu;
    private final NDArray embed;
    /** Gemma: sqrt(hidden) in the model's dtype, applied to looked-up embeddings; else null. */
    private final NDArray embedScale;
    private final NDArray lmHead;
    private final NDArray lmScale;
    /** Gemma 2: the final logit soft-cap (1 / cap is folded into the head); else 0. */
    private final float finalSoftcap;
    /** Gemma 2: the attention soft-cap (1 / cap is folded into the q rows); else 0. */
    private final float attnSoftcap;
    private final Layer[] layers;
    /** Per kind of rotary (full-attention layers, then Gemma 3's sliding ones): cos and sin tables. */
    private final RopeTable[] ropes;
    private final NDArray rotation;
    private final NDArray ropeHeads;
    private final NDArray valueHeads;
    /** The window of sliding layers if it can exclude a key within the max context, else 0. */
    private final int window;
    /** Longrope's original length: a forward over a longer sequence uses its long factors; else max int. */
    private final int longAfter;
    /** Query heads, key/value heads, query heads per key/value head, head size, projected (q + k + v) heads. */
    private final int h;
    private final int kv;
    private final int g;
    private final int d;
    private final int heads;
    /** Monitoring: forwards run, token positions computed, engine arrays created (see {@link #stats}). */
    private long forwards;
    private long forwardTokens;
    private long forwardArrays;
    /** Whether forwards count the engine arrays they create: a walk over the manager's arrays, so off by default. */
    private boolean countArrays;
    /** Engine arrays of the running forward that {@link #free} closed before its end (counted as created). */
    private int freedArrays;

    /**
     * One decoder layer's weights. Optional parts are null: biases, the per-head q/k norm weights {@code [q + k heads,
     * d]}, the norms of the attention and MLP outputs (with the output projections' bias that puts c in the stream
     * slot for them).
     */
    private record Layer(NDArray qkv, NDArray qkvBias, NDArray qkNorm, NDArray out, NDArray outBias,
            NDArray postAttnNorm, NDArray gateUp, NDArray down, NDArray downBias, NDArray postMlpNorm, boolean sliding,
            int rope) {}

    /** cos and sin {@code [positions, 1, d]} of one kind of rotary; with longrope, the long factors' too. */
    private record RopeTable(NDArray cos, NDArray sin, NDArray longCos, NDArray longSin) {}

    private Transformer(ModelConfig cfg, NDManager manager, DataType dtype, int maxContext, float logitScale,
            NDArray embed, NDArray embedScale, NDArray lmHead, NDArray lmScale, Layer[] layers, RopeTable[] ropes,
            NDArray rotation, NDArray ropeHeads, NDArray valueHeads) {
        this.cfg = cfg;
        this.manager = manager;
        this.device = manager.getDevice();
        this.dtype = dtype;
        this.maxContext = maxContext;
        this.logitScale = logitScale;
        this.halfNorm = dtype == DataType.FLOAT16;
        this.gelu = cfg.architecture().gemma();
        this.embed = embed;
        this.embedScale = embedScale;
        this.lmHead = lmHead;
        this.lmScale = lmScale;
        this.finalSoftcap = (float) cfg.finalLogitSoftcapping().orElse(0);
        this.attnSoftcap = (float) cfg.attnLogitSoftcapping().orElse(0);
        this.layers = layers;
        this.ropes = ropes;
        this.rotation = rotation;
        this.ropeHeads = ropeHeads;
        this.valueHeads = valueHeads;
        int w = cfg.slidingWindow().orElse(0);
        this.window = w > 0 && w < maxContext ? w : 0;
        this.longAfter = cfg.longRope() == null ? Integer.MAX_VALUE : cfg.longRope().originalMaxPositions();
        this.h = cfg.numHeads();
        this.kv = cfg.numKvHeads();
        this.g = cfg.groupSize();
        this.d = cfg.headDim();
        this.heads = cfg.projectedHeads();
    }

    /** Turns the count of engine arrays per forward on or off (monitoring; each count walks the model's arrays). */
    void countArrays(boolean on) {
        countArrays = on;
    }

    /** What the forwards so far did, for monitoring. */
    DjlSourceModel.ForwardStats stats() {
        return new DjlSourceModel.ForwardStats(forwards, forwardTokens, forwardArrays);
    }

    /**
     * Whether transformers computes a sequence of {@code length} tokens with longrope's long factors: the factors of a
     * forward are those of its {@link Past} ({@link Past#longFactors}), which must be long for a forward that reaches
     * past the original length, and may be long for a shorter one (a cache recomputed for a sequence that will be long).
     */
    boolean usesLongFactors(int length) {
        return length > longAfter;
    }

    /** Whether the model has longrope, whose factors depend on the sequence length. */
    boolean hasLongRope() {
        return longAfter != Integer.MAX_VALUE;
    }

    /** Longrope's {@code original_max_position_embeddings} (max int without longrope). */
    int longRopeThreshold() {
        return longAfter;
    }

    // ---------------------------------------------------------------------------------------------------- loading

    static Transformer load(ModelConfig cfg, SafetensorsReader reader, NDManager manager, ModelDtype modelDtype,
            int maxContext, double calibrationTemperature) {
        DataType dt = modelDtype.dataType();
        Architecture arch = cfg.architecture();
        int hid = cfg.hiddenSize();
        int d = cfg.headDim();
        int h = cfg.numHeads();
        int kv = cfg.numKvHeads();
        int inter = cfg.intermediateSize();
        int vocab = cfg.vocabSize();
        float sqrtHidden = (float) Math.sqrt(hid);
        float c = (float) Math.sqrt(hid * cfg.rmsNormEps());
        // Attention scale (and 1 / soft-cap), folded into the q rows or, with per-head q norms, into the q norm.
        double queryScale = Math.pow(cfg.queryPreAttnScalar(), -0.5);
        if (cfg.attnLogitSoftcapping().isPresent()) {
            queryScale /= cfg.attnLogitSoftcapping().getAsDouble();
        }
        float scale = (float) queryScale;
        boolean qkNorm = arch.qkNorm();
        boolean postNorms = arch.postNorms();
        String preMlpNorm = arch.gemma() ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight";
        String postAttnNorm = arch.gemma() ? "post_attention_layernorm.weight" : "post_self_attn_layernorm.weight";
        String postMlpNorm = arch.gemma() ? "post_feedforward_layernorm.weight" : "post_mlp_layernorm.weight";
        boolean twoRopes = !cfg.slidingRope().equals(cfg.rope());
        Layer[] layers = new Layer[cfg.numLayers()];
        NDArray embed;
        NDArray embedScale = null;
        NDArray lmHead;
        NDArray lmScale = null;
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            Loader in = new Loader(reader, cpu, manager, dt, arch.gemma());
            // Row scale of the fused qkv matrix: the attention scale on the q rows.
            float[] rowScale = new float[(h + 2 * kv) * d];
            for (int i = 0; i < rowScale.length; i++) {
                rowScale[i] = i < h * d && !qkNorm ? scale : 1f;
            }
            NDArray rowScaleArr = cpu.create(rowScale, new Shape(rowScale.length, 1));
            for (int l = 0; l < cfg.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray inNorm = in.norm(p + "input_layernorm.weight", hid).mul(sqrtHidden).reshape(1, hid);
                    NDArray mlpNorm = in.norm(p + preMlpNorm, hid).mul(sqrtHidden).reshape(1, hid);
                    NDArray qkv;
                    NDArray gateUp;
                    if (arch.fusedQkv()) {
                        qkv = in.f32(p + "self_attn.qkv_proj.weight", (long) (h + 2 * kv) * d, hid);
                    } else {
                        qkv = in.f32(p + "self_attn.q_proj.weight", (long) h * d, hid)
                                .concat(in.f32(p + "self_attn.k_proj.weight", (long) kv * d, hid), 0)
                                .concat(in.f32(p + "self_attn.v_proj.weight", (long) kv * d, hid), 0);
                    }
                    if (arch.fusedGateUp()) {
                        gateUp = in.f32(p + "mlp.gate_up_proj.weight", 2L * inter, hid);
                    } else {
                        gateUp = in.f32(p + "mlp.gate_proj.weight", inter, hid)
                                .concat(in.f32(p + "mlp.up_proj.weight", inter, hid), 0);
                    }
                    qkv = zeroColumn(qkv.mul(rowScaleArr).mul(inNorm));
                    gateUp = zeroColumn(gateUp.mul(mlpNorm));
                    NDArray qkvBias = null;
                    if (cfg.qkvBias()) {
                        qkvBias = in.f32(p + "self_attn.q_proj.bias", (long) h * d)
                                .concat(in.f32(p + "self_attn.k_proj.bias", (long) kv * d), 0)
                                .concat(in.f32(p + "self_attn.v_proj.bias", (long) kv * d), 0)
                                .mul(rowScaleArr.reshape(-1));
                    }
                    NDArray headNorms = null;
                    if (qkNorm) {
                        NDArray qn = in.norm(p + "self_attn.q_norm.weight", d).mul(scale).reshape(1, d);
                        NDArray kn = in.norm(p + "self_attn.k_norm.weight", d).reshape(1, d);
                        headNorms = qn.repeat(0, h).concat(kn.repeat(0, kv), 0);
                    }
                    NDArray out = zeroRow(in.f32(p + "self_attn.o_proj.weight", hid, (long) h * d));
                    NDArray outBias = null;
                    if (cfg.outputBias() || postNorms) {
                        NDArray b = cfg.outputBias() ? in.f32(p + "self_attn.o_proj.bias", hid) : cpu.zeros(new Shape(hid));
                        // The stream slot: 0, or c for the norm of the attention output.
                        outBias = b.concat(postNorms ? cpu.full(new Shape(1), c) : cpu.zeros(new Shape(1)), 0);
                    }
                    NDArray down = zeroRow(in.f32(p + "mlp.down_proj.weight", hid, inter));
                    NDArray downBias = null;
                    NDArray attnOutNorm = null;
                    NDArray mlpOutNorm = null;
                    if (postNorms) {
                        downBias = cpu.zeros(new Shape(hid)).concat(cpu.full(new Shape(1), c), 0);
                        attnOutNorm = in.norm(p + postAttnNorm, hid).mul(sqrtHidden).concat(cpu.zeros(new Shape(1)), 0);
                        mlpOutNorm = in.norm(p + postMlpNorm, hid).mul(sqrtHidden).concat(cpu.zeros(new Shape(1)), 0);
                    }
                    boolean sliding = cfg.slidingLayers().get(l);
                    layers[l] = new Layer(in.keep(qkv), in.keepOrNull(qkvBias), in.keepOrNull(headNorms), in.keep(out),
                            in.keepOrNull(outBias), in.keepOrNull(attnOutNorm), in.keep(gateUp), in.keep(down),
                            in.keepOrNull(downBias), in.keepOrNull(mlpOutNorm), sliding, sliding && twoRopes ? 1 : 0);
                }
            }
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray e = in.f32("model.embed_tokens.weight", vocab, hid);
                float slot = c;
                if (arch.gemma()) {
                    // Gemma scales looked-up embeddings by sqrt(hidden) in the embedding's dtype; the stream slot is
                    // stored divided by it so that it reads c afterwards.
                    embedScale = constant(manager, new float[] {sqrtHidden}, new Shape(), dt);
                    slot = c / embedScale.toType(DataType.FLOAT32, false).getFloat();
                }
                embed = in.keep(e.concat(cpu.full(new Shape(vocab, 1), slot), 1));
                NDArray finalNorm = in.norm("model.norm.weight", hid).mul(sqrtHidden);
                if (cfg.finalLogitSoftcapping().isPresent()) {
                    finalNorm = finalNorm.div((float) cfg.finalLogitSoftcapping().getAsDouble());
                }
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
        // RoPE tables, the rotation as a matrix and the head masks.
        ModelConfig.Rope main = cfg.rope();
        RopeTable[] ropes = twoRopes
                ? new RopeTable[] {ropeTable(manager, main, maxContext, d, dt), ropeTable(manager, cfg.slidingRope(),
                        maxContext, d, dt)}
                : new RopeTable[] {ropeTable(manager, main, maxContext, d, dt)};
        int half = main.rotaryDim() / 2;
        float[] rot = new float[d * d];
        for (int j = 0; j < half; j++) {
            if (main.interleaved()) {
                rot[(2 * j + 1) * d + 2 * j] = -1f; // out[2j] = -x[2j + 1]
                rot[2 * j * d + 2 * j + 1] = 1f; // out[2j + 1] = x[2j]
            } else {
                rot[(j + half) * d + j] = -1f; // out[j] = -x[j + half]
                rot[j * d + j + half] = 1f; // out[j + half] = x[j]
            }
        }
        int heads = cfg.projectedHeads();
        float[] ropeMask = new float[heads];
        float[] valueMask = new float[heads];
        for (int i = 0; i < heads; i++) {
            boolean rope = i < h + kv;
            ropeMask[i] = rope ? 1f : 0f;
            valueMask[i] = rope ? 0f : 1f;
        }
        NDArray rotation = constant(manager, rot, new Shape(d, d), dt);
        NDArray ropeHeads = constant(manager, ropeMask, new Shape(heads, 1), dt);
        NDArray valueHeads = constant(manager, valueMask, new Shape(heads, 1), dt);
        return new Transformer(cfg, manager, dt, maxContext, (float) (1 / calibrationTemperature), embed, embedScale,
                lmHead, lmScale, layers, ropes, rotation, ropeHeads, valueHeads);
    }

    /**
     * cos and sin of one rotary kind for positions {@code [0, positions)} (longrope: its short factors only up to its
     * original length, beyond which they are never used, and its long factors), times the attention factor; 1 and 0
     * on dimensions that do not rotate.
     */
    private static RopeTable ropeTable(NDManager manager, ModelConfig.Rope rope, int positions, int d, DataType dt) {
        if (rope.longRope() == null) {
            NDArray[] t = ropeArrays(manager, rope, false, positions, d, dt);
            return new RopeTable(t[0], t[1], null, null);
        }
        NDArray[] shortT = ropeArrays(manager, rope, false,
                Math.min(positions, rope.longRope().originalMaxPositions()), d, dt);
        NDArray[] longT = ropeArrays(manager, rope, true, positions, d, dt);
        return new RopeTable(shortT[0], shortT[1], longT[0], longT[1]);
    }

    private static NDArray[] ropeArrays(NDManager manager, ModelConfig.Rope rope, boolean longFactors, int positions,
            int d, DataType dt) {
        float[] inv = rope.inverseFrequencies(longFactors);
        float factor = (float) rope.attentionFactor();
        int half = rope.rotaryDim() / 2;
        float[] cos = new float[positions * d];
        float[] sin = new float[positions * d];
        for (int pos = 0; pos < positions; pos++) {
            for (int j = rope.rotaryDim(); j < d; j++) {
                cos[pos * d + j] = 1f; // dimensions that pass through
            }
            for (int i = 0; i < half; i++) {
                float angle = (float) pos * inv[i];
                float cv = (float) Math.cos(angle);
                float sv = (float) Math.sin(angle);
                if (factor != 1f) {
                    cv *= factor;
                    sv *= factor;
                }
                int a = rope.interleaved() ? 2 * i : i;
                int b = rope.interleaved() ? 2 * i + 1 : i + half;
                cos[pos * d + a] = cv;
                cos[pos * d + b] = cv;
                sin[pos * d + a] = sv;
                sin[pos * d + b] = sv;
            }
        }
        return new NDArray[] {constant(manager, cos, new Shape(positions, 1, d), dt),
            constant(manager, sin, new Shape(positions, 1, d), dt)};
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
        private final boolean onePlusNorms;

        Loader(SafetensorsReader reader, NDManager cpu, NDManager target, DataType dtype, boolean onePlusNorms) {
            this.reader = reader;
            this.cpu = cpu;
            this.target = target;
            this.dtype = dtype;
            this.onePlusNorms = onePlusNorms;
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

        /** An RMSNorm's effective weight: {@code w}, or Gemma's {@code 1 + w} (in float32, as Gemma computes it). */
        NDArray norm(String name, long size) {
            NDArray w = f32(name, size);
            return onePlusNorms ? w.add(1f) : w;
        }

        NDArray keep(NDArray a) {
            NDArray moved = a.toDevice(target.getDevice(), true).toType(dtype, false);
            return Tensors.keep(moved, target);
        }

        NDArray keepOrNull(NDArray a) {
            return a == null ? null : keep(a);
        }
    }

    // ---------------------------------------------------------------------------------------------------- passes

    /**
     * The cached keys and values a forward attends to: per layer {@code [1, kvHeads, capacity, headDim]} (heads first,
     * so that attention multiplies by a slice of it without copying), of which the
     * first {@code length} positions hold the tokens before the new ones; {@code longFactors}: whether they were
     * computed with longrope's long factors (always false without longrope).
     */
    record Past(NDArray[] layerKeys, NDArray[] layerValues, int length, boolean longFactors, int[] rowLengths) {
        Past {
            requireNonNull(layerKeys, "layerKeys is null");
            requireNonNull(layerValues, "layerValues is null");
            if (rowLengths != null) {
                for (int n : rowLengths) {
                    if (n < 1 || n > length) {
                        throw new IllegalArgumentException("a row's past of " + n + " positions in a past of " + length);
                    }
                }
            }
        }

        /** One sequence's past, shared by every row of the forward. */
        Past(NDArray[] layerKeys, NDArray[] layerValues, int length, boolean longFactors) {
            this(layerKeys, layerValues, length, longFactors, null);
        }

        /**
         * The pasts of several sequences side by side, one per row of the forward: per layer {@code [rows, kvHeads,
         * length, headDim]} (heads first, contiguous: attention multiplies by it without a copy), row {@code r}
         * holding {@code rowLengths[r]} positions, the rest padding (finite values, never attended to).
         */
        static Past rows(NDArray[] layerKeys, NDArray[] layerValues, int[] rowLengths, boolean longFactors) {
            int longest = Arrays.stream(rowLengths).max().orElseThrow();
            return new Past(layerKeys, layerValues, longest, longFactors, rowLengths.clone());
        }

        /** Whether each row of the forward has its own past ({@link #rows}). */
        boolean perRow() {
            return rowLengths != null;
        }

        /** The positions row {@code r} attends to before its new tokens. */
        int lengthOf(int r) {
            return rowLengths == null ? length : rowLengths[r];
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
        /** The log-probs after every position of a single row. */
        Readout EVERY = new Every();

        /** See {@link #LAST}. */
        record Last() implements Readout {}

        /** See {@link #TARGETS}. */
        record Targets() implements Readout {}

        /** See {@link #EVERY}. */
        record Every() implements Readout {}

        /**
         * The summed NLL of a single row's own next tokens under {@code softmax(calibrated logits / T)}, for each
         * temperature T, computed by the engine where the logits are; the predictions at positions from {@code from}
         * on count.
         */
        record TemperedNll(double[] temperatures, int from) implements Readout {
            public TemperedNll {
                requireNonNull(temperatures, "temperatures is null");
                if (from < 0) {
                    throw new IllegalArgumentException("from must be >= 0, got " + from);
                }
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
            if (past.perRow() && (newKeys != NewKeys.SEGMENT || past.rowLengths().length != batch.rows())) {
                throw new IllegalArgumentException("a past per row needs one row of new tokens per past ("
                        + past.rowLengths().length + " pasts, " + batch.rows() + " rows) and new keys in a segment");
            }
        }

        /** A prompt's prefill or a decode step in place: one row written into the store, the log-probs after it. */
        static Pass extend(Past past, long[] ids) {
            return new Pass(past, Batch.of(ids), NewKeys.STORE, Readout.LAST);
        }

        /**
         * A decode step (or the rest of a prompt after a kept prefix) beside the store, another state holding its
         * tail: its keys and values return as a segment, the log-probs after its last token.
         */
        static Pass branch(Past past, long[] ids) {
            return new Pass(past, Batch.of(ids), NewKeys.SEGMENT, Readout.LAST);
        }

        /** Candidates scored token by token in one batched forward, their keys and values going to {@code newKeys}. */
        static Pass score(Past past, Batch candidates, NewKeys newKeys) {
            return new Pass(past, candidates, newKeys, Readout.TARGETS);
        }

        /**
         * Rows of new tokens, each after its own sequence's past ({@link Past#rows}): nextToken and score calls of
         * different generations in one forward. Their keys and values return as a segment; each row's log-probs of
         * its own next tokens and after its last one are read.
         */
        static Pass rows(Past pasts, Batch rows) {
            return new Pass(pasts, rows, NewKeys.SEGMENT, Readout.TARGETS);
        }

        /** The NLLs of one row of tokens at several temperatures; nothing is kept. */
        static Pass temperedNll(Past past, long[] ids, double[] temperatures) {
            return new Pass(past, Batch.of(ids), NewKeys.DROP, new Readout.TemperedNll(temperatures, 0));
        }

        /**
         * The NLLs of a whole sequence's tokens from position {@code from} on (its predictions of {@code ids[from + 1]}
         * and later), written into an empty store's past.
         */
        static Pass temperedNllFrom(Past empty, long[] ids, double[] temperatures, int from) {
            return new Pass(empty, Batch.of(ids), NewKeys.STORE, new Readout.TemperedNll(temperatures, from));
        }

        /** Every position's log-probs of one row, written into an (empty or extended) store. */
        static Pass every(Past past, long[] ids) {
            return new Pass(past, Batch.of(ids), NewKeys.STORE, Readout.EVERY);
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
     * @param everyLogProbs  {@code [width][vocab]} flat: the log-probs after each position ({@link Readout#EVERY})
     */
    record Output(float[][] lastLogProbs, float[] targetLogProbs, NewKv newKv, double[] temperedNll,
            float[] everyLogProbs) {}

    // ---------------------------------------------------------------------------------------------------- forward

    /**
     * The layout of one forward: batch shape, where the new positions are, their rotary factors per kind of rotary,
     * what full and sliding layers see, and the new keys and values collected for a segment (null unless {@link
     * NewKeys#SEGMENT}).
     */
    private record Frame(Pass pass, int rows, int width, int past, int total, NDArray[] ropeCos, NDArray[] ropeSin,
            Visibility full, Visibility sliding, List<NDArray> newKeys, List<NDArray> newValues) {}

    /**
     * The keys the queries of one kind of layer see: cached positions from {@code keyStart} on and the new ones, with
     * additive masks {@code [group * width, keys]} (null where all are visible): {@code mask} over the store's keys
     * (in place) or over the new keys (beside the store), {@code pastMask} over the store's keys beside it.
     */
    private record Visibility(int keyStart, NDArray mask, NDArray pastMask) {}

    /** Runs one pass: the model over its new tokens, reading out what it asks for. */
    Output forward(Pass pass) {
        int total = longestSequence(pass);
        if (total > maxContext) {
            throw new FusionException("sequence of " + total + " tokens exceeds the max context of " + maxContext);
        }
        NewKv newKv = null;
        int arraysBefore = countArrays ? manager.getManagedArrays().size() : 0;
        freedArrays = 0;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Frame f = frame(pass);                       // rotary factors and masks of the new positions
            NDArray x = embed(pass.batch());             // token embeddings: residual stream [rows, width, hidden + 1]
            for (int l = 0; l < layers.length; l++) {
                attention(f, l, x);                      // x += attention(norm(x)), with the cached keys and values
                mlp(layers[l], x);                       // x += down(act(gate(norm(x))) * up(norm(x)))
            }
            newKv = keepNewKv(f);                        // the segment, if asked for, outlives this scope
            NDArray logits = logits(f, x);               // final norm, output projection (float32), soft-cap
            NDArray scaled = logitScale == 1f ? logits : logits.mul(logitScale); // calibration temperature
            Output out = read(f, scaled, newKv);         // log-softmax and the log-probs asked for
            forwards++;
            forwardTokens += (long) pass.batch().rows() * pass.batch().width();
            if (countArrays) {
                // before the scope closes them; those freed early were created too
                forwardArrays += manager.getManagedArrays().size() + freedArrays - arraysBefore;
            }
            return out;
        } catch (RuntimeException e) {
            if (newKv != null) {
                newKv.close();
            }
            throw e;
        }
    }

    /** The longest sequence a pass computes: a row's past and its real new tokens. */
    private static int longestSequence(Pass pass) {
        if (!pass.past().perRow()) {
            return pass.past().length() + pass.batch().width();
        }
        int longest = 0;
        for (int r = 0; r < pass.batch().rows(); r++) {
            longest = Math.max(longest, pass.past().lengthOf(r) + pass.batch().lengths()[r]);
        }
        return longest;
    }

    private Frame frame(Pass pass) {
        int rows = pass.batch().rows();
        int width = pass.batch().width();
        int past = pass.past().length();
        int total = past + width;
        // Longrope: the past says which factors; short ones serve sequences up to the original length only.
        boolean longFactors = pass.past().longFactors();
        if (longFactors ? !hasLongRope() : usesLongFactors(longestSequence(pass))) {
            throw new IllegalStateException("a forward over " + longestSequence(pass) + " positions cannot use longrope's "
                    + (longFactors ? "long factors: the model has none" : "short factors beyond " + longAfter));
        }
        if (pass.past().perRow()) {
            return framePerRow(pass, longFactors);
        }
        // RoPE factors for positions past..total-1: [width, heads, d], per kind of rotary
        long[] ropeMin = {past, 0, 0};
        long[] ropeMax = {total, 1, d};
        NDArray[] ropeCos = new NDArray[ropes.length];
        NDArray[] ropeSin = new NDArray[ropes.length];
        for (int i = 0; i < ropes.length; i++) {
            RopeTable t = ropes[i];
            ropeCos[i] = Tensors.slice(longFactors ? t.longCos : t.cos, ropeMin, ropeMax).mul(ropeHeads).addi(valueHeads);
            ropeSin[i] = Tensors.slice(longFactors ? t.longSin : t.sin, ropeMin, ropeMax).mul(ropeHeads);
        }
        boolean inStore = pass.newKeys() == NewKeys.STORE;
        NDArray mask = width > 1 ? causalMask(inStore ? total : width, inStore ? past : 0, width) : null;
        Visibility full = new Visibility(0, mask, null);
        Visibility sliding = window > 0 && total > window ? slidingVisibility(past, width, inStore) : full;
        boolean segment = pass.newKeys() == NewKeys.SEGMENT;
        return new Frame(pass, rows, width, past, total, ropeCos, ropeSin, full, sliding,
                segment ? new ArrayList<>() : null, segment ? new ArrayList<>() : null);
    }

    /**
     * The layout of a forward whose rows each follow their own past ({@link Past#rows}): row {@code r}'s new tokens
     * sit at positions {@code rowLengths[r]} on, so each row reads its own rotary factors, and its queries see its own
     * past positions only (and, in sliding layers, only those within the window), then the new tokens causally.
     */
    private Frame framePerRow(Pass pass, boolean longFactors) {
        int rows = pass.batch().rows();
        int width = pass.batch().width();
        int past = pass.past().length();
        // Every row's positions [rows, width], looked up in the rotary tables as embeddings: [rows, width, 1, d].
        long[] positions = new long[rows * width];
        NDArray[] ropeCos = new NDArray[ropes.length];
        NDArray[] ropeSin = new NDArray[ropes.length];
        for (int i = 0; i < ropes.length; i++) {
            RopeTable t = ropes[i];
            NDArray cosTable = longFactors ? t.longCos : t.cos;
            long lastPosition = cosTable.getShape().get(0) - 1;
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < width; j++) {
                    positions[r * width + j] = Math.min(pass.past().lengthOf(r) + j, lastPosition); // padding: clamped
                }
            }
            NDArray index = manager.create(positions, new Shape(rows, width));
            ropeCos[i] = lookUp(index, cosTable).reshape(rows, width, 1, d).mul(ropeHeads).addi(valueHeads);
            ropeSin[i] = lookUp(index, longFactors ? t.longSin : t.sin).reshape(rows, width, 1, d).mul(ropeHeads);
        }
        NDArray causal = width > 1 ? causalMask(width, 0, width) : null;
        Visibility full = new Visibility(0, causal, rowPastMask(pass.past(), rows, width, 0));
        Visibility sliding = full;
        if (window > 0) {
            int w = window;
            sliding = new Visibility(0, mask(width, width, (t, k) -> k <= t && k > t - w),
                    rowPastMask(pass.past(), rows, width, w));
        }
        return new Frame(pass, rows, width, past, past + width, ropeCos, ropeSin, full, sliding, new ArrayList<>(),
                new ArrayList<>());
    }

    /** Rows of {@code table} ({@code [positions, 1, d]}) picked by {@code index}: {@code [index shape..., d]}. */
    private NDArray lookUp(NDArray index, NDArray table) {
        NDArray flat = table.reshape(table.getShape().get(0), d);
        return index.getNDArrayInternal().embedding(index, flat, SparseFormat.DENSE).singletonOrThrow();
    }

    /**
     * The additive mask {@code [rows, 1, group * width, past]} over a per-row past: row r's query t (at position
     * {@code n_r + t}, {@code n_r} its past's length) sees past key k if {@code k < n_r} and, with a window w, {@code
     * k > n_r + t - w}; null if every row sees every past key.
     */
    private NDArray rowPastMask(Past past, int rows, int width, int w) {
        int keys = past.length();
        int queries = g * width;
        float[] m = new float[rows * queries * keys];
        boolean any = false;
        for (int r = 0; r < rows; r++) {
            int n = past.lengthOf(r);
            for (int t = 0; t < width; t++) {
                for (int k = 0; k < keys; k++) {
                    if (k >= n || (w > 0 && k <= n + t - w)) {
                        any = true;
                        for (int j = 0; j < g; j++) {
                            m[(r * queries + j * width + t) * keys + k] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
            }
        }
        if (!any) {
            return null;
        }
        NDArray mask = manager.create(m, new Shape(rows, 1, queries, keys));
        return mask.getDataType() == dtype ? mask : mask.toType(dtype, false);
    }

    /**
     * What sliding layers see when the window matters: the query at position p sees keys p - w + 1 .. p, so none
     * before {@code past - w + 1}.
     */
    private Visibility slidingVisibility(int past, int width, boolean inStore) {
        int w = window;
        int keyStart = Math.max(0, past - w + 1);
        if (inStore) {
            return new Visibility(keyStart, mask(width, past + width - keyStart,
                    (t, k) -> keyStart + k <= past + t && keyStart + k > past + t - w), null);
        }
        NDArray pastMask = mask(width, past - keyStart, (t, k) -> keyStart + k > past + t - w);
        NDArray newMask = mask(width, width, (t, k) -> k <= t && k > t - w);
        return new Visibility(keyStart, newMask, pastMask);
    }

    /** Token embeddings, each followed by the residual stream's norm constant: {@code [rows, width, hidden + 1]}. */
    private NDArray embed(Batch batch) {
        NDArray input = manager.create(batch.ids(), new Shape(batch.rows(), batch.width()));
        NDArray x = input.getNDArrayInternal().embedding(input, embed, SparseFormat.DENSE).singletonOrThrow();
        return embedScale == null ? x : x.muli(embedScale); // Gemma: times sqrt(hidden)
    }

    /** The attention block of layer {@code l}, in place on the residual stream {@code x}. */
    private void attention(Frame f, int l, NDArray x) {
        Layer layer = layers[l];
        NDArray normed = norm(x);
        NDArray projected = linear(normed, layer.qkv, layer.qkvBias); // norm, q/k/v projections
        free(normed);
        NDArray qkv = projected.reshape(f.rows, f.width, heads, d);
        free(projected);
        if (layer.qkNorm != null) {
            NDArray raw = qkv;
            qkv = headNorm(raw, layer.qkNorm);           // per-head RMSNorm of q and k (Qwen 3, Gemma 3)
            free(raw);
        }
        NDArray cos = f.ropeCos[layer.rope];
        NDArray sin = f.ropeSin[layer.rope];
        NDArray rotated = qkv.matMul(rotation).muli(sin); // rotary on q and k heads
        NDArray unrotated = qkv.mul(cos);
        rotated.addi(unrotated);
        free(qkv, unrotated);
        NDList parts = rotated.split(new long[] {h, h + kv}, 2);
        NDArray q = groupQueries(f, parts.get(0));       // queries by the key/value head they share
        NDArray k = parts.get(1);
        NDArray v = parts.get(2);
        Visibility seen = layer.sliding ? f.sliding : f.full; // sliding layers: only the window's keys
        NDArray o = f.pass.newKeys() == NewKeys.STORE
                ? attendInStore(f, l, seen, q, k, v)     // cache write, then attention over the store
                : attendBeside(f, l, seen, q, k, v);     // attention over the store's prefix and the new keys
        if (f.pass.newKeys() != NewKeys.SEGMENT) {       // (a segment keeps k and v)
            free(rotated, parts.get(0), q, k, v);
        }
        NDArray merged = mergeHeads(f, o);
        NDArray out = linear(merged, layer.out, layer.outBias); // output projection
        free(o, merged);
        if (layer.postAttnNorm != null) {
            NDArray raw = out;
            out = norm(raw).muli(layer.postAttnNorm);    // norm of the attention output (GLM-4, Gemma)
            free(raw);
        }
        x.addi(out);                                     // residual
        free(out);
    }

    /**
     * {@code x * rsqrt(mean(x^2) + eps) * w} over each q and k head's own values, with the attention scale in q's
     * {@code w}; the v heads pass.
     */
    private NDArray headNorm(NDArray qkv, NDArray weight) {
        NDList parts = qkv.split(new long[] {h + kv}, 2);
        NDArray qk = halfNorm ? parts.get(0).toType(DataType.FLOAT32, false) : parts.get(0);
        NDArray rms = qk.square().mean(new int[] {3}, true).addi((float) cfg.rmsNormEps()).sqrt();
        NDArray normed = qk.div(rms);
        if (halfNorm) {
            normed = normed.toType(dtype, false);
        }
        return normed.muli(weight).concat(parts.get(1), 2);
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

    /**
     * Writes the new keys and values into the store after the past, then attends over positions {@code [keyStart,
     * total)}.
     */
    private NDArray attendInStore(Frame f, int l, Visibility seen, NDArray q, NDArray k, NDArray v) {
        NDArray keys = f.pass.past().layerKeys()[l];
        NDArray values = f.pass.past().layerValues()[l];
        long[] all = {1, kv, f.total, d};
        Tensors.write(keys, k.transpose(0, 2, 1, 3), new long[] {0, 0, f.past, 0}, all); // heads first, as stored
        Tensors.write(values, v.transpose(0, 2, 1, 3), new long[] {0, 0, f.past, 0}, all);
        long[] from = {0, 0, seen.keyStart, 0};
        NDArray keysT = Tensors.slice(keys, from, all).transpose(0, 1, 3, 2); // [1, kv, d, keys]: no copy
        NDArray vals = Tensors.slice(values, from, all);                      // [1, kv, keys, d]
        NDArray scores = softcap(q.matMul(keysT));
        if (seen.mask != null) {
            scores.addi(seen.mask);
        }
        NDArray probs = scores.softmax(-1);
        free(scores);
        NDArray o = probs.matMul(vals);
        free(probs);
        return o;
    }

    /**
     * Attends over the store's positions {@code [keyStart, past)} (read only), or each row's own past, and the new
     * keys and values, with one softmax over both; keeps the new ones for a segment if the pass asks for it.
     */
    private NDArray attendBeside(Frame f, int l, Visibility seen, NDArray q, NDArray k, NDArray v) {
        NDArray keysT;
        NDArray vals;
        if (f.pass.past().perRow()) {
            keysT = f.pass.past().layerKeys()[l].transpose(0, 1, 3, 2); // [rows, kv, d, past]
            vals = f.pass.past().layerValues()[l];                       // [rows, kv, past, d]
        } else {
            long[] from = {0, 0, seen.keyStart, 0};
            long[] prefix = {1, kv, f.past, d};
            keysT = Tensors.slice(f.pass.past().layerKeys()[l], from, prefix).transpose(0, 1, 3, 2);
            vals = Tensors.slice(f.pass.past().layerValues()[l], from, prefix);
        }
        NDArray pastScores = softcap(q.matMul(keysT));
        if (seen.pastMask != null) {
            pastScores.addi(seen.pastMask);
        }
        NDArray newScores = softcap(q.matMul(k.transpose(0, 2, 3, 1)));
        if (seen.mask != null) {
            newScores.addi(seen.mask);
        }
        NDList probs = pastScores.concat(newScores, -1).softmax(-1).split(new long[] {f.past - seen.keyStart}, 3);
        if (f.newKeys != null) {
            f.newKeys.add(k);
            f.newValues.add(v);
        }
        return probs.get(0).matMul(vals).addi(probs.get(1).matMul(v.transpose(0, 2, 1, 3)));
    }

    /** Gemma 2's attention soft-cap: {@code cap * tanh(scores / cap)} (the 1 / cap is in the q rows); else as is. */
    private NDArray softcap(NDArray scores) {
        return attnSoftcap == 0f ? scores : scores.tanh().muli(attnSoftcap);
    }

    /** The MLP block, in place on the residual stream {@code x}. */
    private void mlp(Layer layer, NDArray x) {
        NDArray normed = norm(x);
        NDArray projected = linear(normed, layer.gateUp, null); // norm, gate and up projections
        free(normed);
        NDList gateUp = projected.split(2, 2);
        NDArray gate = gateUp.get(0);
        NDArray act = gelu
                ? geluTanh(gate).muli(gateUp.get(1))      // gelu_pytorch_tanh(gate) * up (Gemma)
                : gate.getNDArrayInternal().sigmoid().muli(gate).muli(gateUp.get(1)); // silu(gate) * up
        free(projected, gate, gateUp.get(1));
        NDArray down = linear(act, layer.down, layer.downBias); // down projection
        free(act);
        if (layer.postMlpNorm != null) {
            NDArray raw = down;
            down = norm(raw).muli(layer.postMlpNorm);    // norm of the MLP output (GLM-4, Gemma)
            free(raw);
        }
        x.addi(down);                                    // residual
        free(down);
    }

    /**
     * Closes intermediate arrays of the running forward as soon as they are used (the scope would only at its end), so
     * that their memory is reused by the next ones instead of the forward touching fresh pages for each.
     */
    private void free(NDArray... arrays) {
        for (NDArray a : arrays) {
            a.close();
            freedArrays++;
        }
    }

    /** {@code 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))}, PyTorch's {@code gelu(approximate="tanh")}. */
    private static NDArray geluTanh(NDArray x) {
        NDArray inner = x.pow(3).muli(0.044715f).addi(x).muli((float) Math.sqrt(2 / Math.PI));
        return inner.tanh().addi(1f).muli(x).muli(0.5f);
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

    /** The final norm and output projection of the positions the readout needs, as float32, soft-capped (Gemma 2). */
    private NDArray logits(Frame f, NDArray x) {
        NDArray read = f.pass.readout() instanceof Readout.Last && f.width > 1
                ? Tensors.slice(x, new long[] {0, f.width - 1, 0}, new long[] {f.rows, f.width, cfg.hiddenSize() + 1})
                : x;
        NDArray logits = head(norm(read));
        NDArray wide = logits.getDataType() == DataType.FLOAT32 ? logits : logits.toType(DataType.FLOAT32, false);
        return finalSoftcap == 0f ? wide : wide.tanh().muli(finalSoftcap); // the 1 / cap is in the head
    }

    private Output read(Frame f, NDArray scaled, NewKv newKv) {
        if (f.pass.readout() instanceof Readout.TemperedNll tempered) {
            return new Output(null, null, newKv, temperedNll(f, scaled, tempered), null);
        }
        NDArray logProbs = scaled.logSoftmax(-1);
        if (f.pass.readout() instanceof Readout.Last) {
            return new Output(new float[][] {logProbs.toFloatArray()}, null, newKv, null, null);
        }
        if (f.pass.readout() instanceof Readout.Every) {
            return new Output(null, null, newKv, null, logProbs.toFloatArray());
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
        return new Output(last, targets, newKv, null, null);
    }

    /**
     * For each temperature, {@code -sum_t log_softmax(scaled / T)[t, ids[t + 1]]} over the single row's positions
     * {@code t >= from}.
     */
    private double[] temperedNll(Frame f, NDArray scaled, Readout.TemperedNll tempered) {
        double[] temperatures = tempered.temperatures();
        double[] nll = new double[temperatures.length];
        int length = f.pass.batch().lengths()[0];
        if (length - 1 > tempered.from()) {
            NDArray nextIds = nextIds(f.pass.batch());
            for (int i = 0; i < temperatures.length; i++) {
                NDArray picked = scaled.div((float) temperatures[i]).logSoftmax(-1).gather(nextIds, 2);
                nll[i] = -Tensors.slice(picked, new long[] {0, tempered.from(), 0}, new long[] {1, length - 1, 1}).sum()
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
        int block = tokens * keys;
        float[] m = new float[g * block];
        for (int t = 0; t < tokens; t++) {
            Arrays.fill(m, t * keys + Math.min(keys, offset + t + 1), (t + 1) * keys, Float.NEGATIVE_INFINITY);
        }
        for (int j = 1; j < g; j++) {
            System.arraycopy(m, 0, m, j * block, block); // the same rows for each group member
        }
        NDArray mask = manager.create(m, new Shape((long) g * tokens, keys));
        return mask.getDataType() == dtype ? mask : mask.toType(dtype, false);
    }

    /** Whether query token {@code t} sees key column {@code k}. */
    private interface Visible {
        boolean test(int t, int k);
    }

    /** An additive mask {@code [group * tokens, keys]} from a visibility rule, or null if every key is visible. */
    private NDArray mask(int tokens, int keys, Visible visible) {
        float[] m = new float[g * tokens * keys];
        boolean any = false;
        for (int t = 0; t < tokens; t++) {
            for (int k = 0; k < keys; k++) {
                if (!visible.test(t, k)) {
                    any = true;
                    for (int j = 0; j < g; j++) {
                        m[(j * tokens + t) * keys + k] = Float.NEGATIVE_INFINITY;
                    }
                }
            }
        }
        if (!any) {
            return null;
        }
        NDArray mask = manager.create(m, new Shape(g * tokens, keys));
        return mask.getDataType() == dtype ? mask : mask.toType(dtype, false);
    }

    @Override
    public void close() {
        manager.close();
    }
}
