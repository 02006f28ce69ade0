package dev.coolfusion.demo.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;


/**
 * A Llama decoder written for training on DJL's PyTorch engine with autograd: plain Hugging Face semantics
 * (RMSNorm, rotate-half RoPE, causal multi-head attention, SwiGLU), parameters named and shaped as in a Hugging Face
 * {@code LlamaForCausalLM} checkpoint, a hand-written AdamW, and a safetensors writer. The inference side
 * ({@code DjlSourceModel}) loads what this writes; a test checks that both give the same log-probabilities.
 */
public final class LlamaTrainer implements AutoCloseable {

    /** The model shape (config.json). */
    public record Shape0(int vocab, int hidden, int intermediate, int layers, int heads, int maxPositions) {
        public int headDim() {
            return hidden / heads;
        }

        public long parameters() {
            long layer = 4L * hidden * hidden + 3L * hidden * intermediate + 2L * hidden;
            return 2L * vocab * hidden + layers * layer + hidden;
        }
    }

    /** Optimisation settings. */
    public record Schedule(int steps, int batch, int seqLen, double lr, double minLr, int warmup, double weightDecay,
            double clip) {}

    private static final double EPS = 1e-5;
    private static final double THETA = 10000.0;

    private final Shape0 shape;
    private final NDManager manager;
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    private final Map<String, NDArray> adamM = new LinkedHashMap<>();
    private final Map<String, NDArray> adamV = new LinkedHashMap<>();
    private final NDArray cos;
    private final NDArray sin;
    private final NDArray rotation;
    private int step;

    /** A freshly initialised model: normal(0, 0.02) weights from {@code seed}, norms 1. */
    public LlamaTrainer(Shape0 shape, long seed) {
        this.shape = shape;
        this.manager = NDManager.newBaseManager(Device.cpu(), "PyTorch");
        SplittableRandom random = new SplittableRandom(seed);
        int h = shape.hidden();
        add("model.embed_tokens.weight", normal(random, 0.02, shape.vocab(), h), shape.vocab(), h);
        double outStd = 0.02 / Math.sqrt(2.0 * shape.layers());
        for (int l = 0; l < shape.layers(); l++) {
            String p = "model.layers." + l + ".";
            add(p + "input_layernorm.weight", ones(h), h);
            add(p + "self_attn.q_proj.weight", normal(random, 0.02, h, h), h, h);
            add(p + "self_attn.k_proj.weight", normal(random, 0.02, h, h), h, h);
            add(p + "self_attn.v_proj.weight", normal(random, 0.02, h, h), h, h);
            add(p + "self_attn.o_proj.weight", normal(random, outStd, h, h), h, h);
            add(p + "post_attention_layernorm.weight", ones(h), h);
            add(p + "mlp.gate_proj.weight", normal(random, 0.02, shape.intermediate(), h), shape.intermediate(), h);
            add(p + "mlp.up_proj.weight", normal(random, 0.02, shape.intermediate(), h), shape.intermediate(), h);
            add(p + "mlp.down_proj.weight", normal(random, outStd, h, shape.intermediate()), h, shape.intermediate());
        }
        add("model.norm.weight", ones(h), h);
        add("lm_head.weight", normal(random, 0.02, shape.vocab(), h), shape.vocab(), h);
        int d = shape.headDim();
        int half = d / 2;
        float[] c = new float[shape.maxPositions() * d];
        float[] s = new float[shape.maxPositions() * d];
        for (int pos = 0; pos < shape.maxPositions(); pos++) {
            for (int i = 0; i < half; i++) {
                float inv = (float) (1.0 / (float) Math.pow(THETA, (float) (2 * i) / (float) d));
                float angle = (float) pos * inv;
                c[pos * d + i] = c[pos * d + i + half] = (float) Math.cos(angle);
                s[pos * d + i] = s[pos * d + i + half] = (float) Math.sin(angle);
            }
        }
        cos = manager.create(c, new Shape(shape.maxPositions(), 1, d));
        sin = manager.create(s, new Shape(shape.maxPositions(), 1, d));
        float[] rot = new float[d * d];
        for (int j = 0; j < half; j++) {
            rot[(j + half) * d + j] = -1f;
            rot[j * d + j + half] = 1f;
        }
        rotation = manager.create(rot, new Shape(d, d));
    }

    public Shape0 shape() {
        return shape;
    }

    private void add(String name, float[] data, long... dims) {
        NDArray a = manager.create(data, new Shape(dims));
        a.setRequiresGradient(true);
        params.put(name, a);
        adamM.put(name, manager.zeros(new Shape(dims)));
        adamV.put(name, manager.zeros(new Shape(dims)));
    }

    private static float[] normal(SplittableRandom random, double std, int rows, int cols) {
        float[] out = new float[rows * cols];
        for (int i = 0; i < out.length; i++) {
            // Box-Muller
            double u = 1.0 - random.nextDouble();
            double v = random.nextDouble();
            out[i] = (float) (std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
        }
        return out;
    }

    private static float[] ones(int n) {
        float[] out = new float[n];
        java.util.Arrays.fill(out, 1f);
        return out;
    }

    // ------------------------------------------------------------------------------------------------ forward

    /** Log-probabilities {@code [rows, tokens, vocab]} of the next token after each position. */
    public NDArray logProbs(NDArray ids) {
        long rows = ids.getShape().get(0);
        int t = (int) ids.getShape().get(1);
        int h = shape.hidden();
        int nh = shape.heads();
        int d = shape.headDim();
        NDArray x = ids.getNDArrayInternal().embedding(ids, params.get("model.embed_tokens.weight"), SparseFormat.DENSE)
                .singletonOrThrow();
        NDArray c = cos.get("0:" + t);
        NDArray s = sin.get("0:" + t);
        float[] m = new float[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = i + 1; j < t; j++) {
                m[i * t + j] = Float.NEGATIVE_INFINITY;
            }
        }
        NDArray mask = manager.create(m, new Shape(t, t));
        float scale = (float) (1.0 / Math.sqrt(d));
        for (int l = 0; l < shape.layers(); l++) {
            String p = "model.layers." + l + ".";
            NDArray xn = rmsNorm(x, params.get(p + "input_layernorm.weight"));
            NDArray q = rope(linear(xn, params.get(p + "self_attn.q_proj.weight")).reshape(rows, t, nh, d), c, s);
            NDArray k = rope(linear(xn, params.get(p + "self_attn.k_proj.weight")).reshape(rows, t, nh, d), c, s);
            NDArray v = linear(xn, params.get(p + "self_attn.v_proj.weight")).reshape(rows, t, nh, d);
            NDArray scores = q.transpose(0, 2, 1, 3).matMul(k.transpose(0, 2, 3, 1)).mul(scale).add(mask);
            NDArray o = scores.softmax(-1).matMul(v.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3).reshape(rows, t, h);
            x = x.add(linear(o, params.get(p + "self_attn.o_proj.weight")));
            NDArray xn2 = rmsNorm(x, params.get(p + "post_attention_layernorm.weight"));
            NDArray gate = linear(xn2, params.get(p + "mlp.gate_proj.weight"));
            NDArray up = linear(xn2, params.get(p + "mlp.up_proj.weight"));
            x = x.add(linear(Activation.sigmoid(gate).mul(gate).mul(up), params.get(p + "mlp.down_proj.weight")));
        }
        NDArray logits = linear(rmsNorm(x, params.get("model.norm.weight")), params.get("lm_head.weight"));
        return logits.logSoftmax(-1);
    }

    private NDArray rope(NDArray x, NDArray c, NDArray s) {
        return x.mul(c).add(x.matMul(rotation).mul(s));
    }

    private static NDArray rmsNorm(NDArray x, NDArray w) {
        NDArray ms = x.square().mean(new int[] {-1}, true);
        return x.div(ms.add(EPS).sqrt()).mul(w);
    }

    private static NDArray linear(NDArray x, NDArray w) {
        return x.getNDArrayInternal().linear(x, w, null).singletonOrThrow();
    }

    /** Log-probabilities of each row's own next tokens: {@code [rows][tokens - 1]}, computed without gradients. */
    public float[][] tokenLogProbs(long[][] rows) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            int t = rows[0].length;
            long[] flat = new long[rows.length * t];
            for (int r = 0; r < rows.length; r++) {
                System.arraycopy(rows[r], 0, flat, r * t, t);
            }
            NDArray ids = manager.create(flat, new Shape(rows.length, t));
            NDArray lp = logProbs(ids.get(":, 0:" + (t - 1)));
            NDArray tg = ids.get(":, 1:").expandDims(2);
            float[] g = lp.gather(tg, 2).toFloatArray();
            float[][] out = new float[rows.length][t - 1];
            for (int r = 0; r < rows.length; r++) {
                System.arraycopy(g, r * (t - 1), out[r], 0, t - 1);
            }
            return out;
        }
    }

    // ------------------------------------------------------------------------------------------------ training

    /**
     * Trains on {@code data} (token rows of at least {@code seqLen + 1} tokens, each starting with the
     * begin-of-sequence id) and reports the mean loss of each step to {@code progress} every few steps.
     */
    public void train(List<int[]> data, Schedule schedule, long seed, LossListener progress) {
        // PyTorch's grad mode is per thread and DJL turns it off only on the thread that started the engine. With it
        // on, the in-place parameter update would be refused (an in-place op on a leaf that requires grad); the
        // gradient collector turns it on for the forward and back off after, whichever thread trains.
        JniUtils.setGradMode(false);
        SplittableRandom random = new SplittableRandom(seed);
        int b = schedule.batch();
        int t = schedule.seqLen();
        for (int i = 0; i < schedule.steps(); i++) {
            long[] flat = new long[b * (t + 1)];
            for (int r = 0; r < b; r++) {
                int[] row = data.get(random.nextInt(data.size()));
                for (int j = 0; j <= t; j++) {
                    flat[r * (t + 1) + j] = row[j];
                }
            }
            double lr = lr(schedule, i);
            float loss = step(flat, b, t, lr, schedule.weightDecay(), schedule.clip());
            progress.onStep(i, loss, lr);
        }
    }

    /** Called after each step. */
    @FunctionalInterface
    public interface LossListener {
        void onStep(int step, float loss, double lr);
    }

    private static double lr(Schedule s, int i) {
        if (i < s.warmup()) {
            return s.lr() * (i + 1) / s.warmup();
        }
        double progress = (double) (i - s.warmup()) / Math.max(1, s.steps() - s.warmup());
        return s.minLr() + 0.5 * (s.lr() - s.minLr()) * (1 + Math.cos(Math.PI * progress));
    }

    private float step(long[] flat, int b, int t, double lr, double weightDecay, double clip) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray all = manager.create(flat, new Shape(b, t + 1));
            NDArray input = all.get(":, 0:" + t);
            NDArray target = all.get(":, 1:").expandDims(2);
            float loss;
            try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray lp = logProbs(input);
                NDArray l = lp.gather(target, 2).mean().neg();
                gc.backward(l);
                loss = l.getFloat();
            }
            step++;
            double b1 = 0.9;
            double b2 = 0.95;
            double eps = 1e-8;
            double norm2 = 0;
            List<NDArray> grads = new ArrayList<>();
            for (NDArray p : params.values()) {
                NDArray g = p.getGradient();
                grads.add(g);
                norm2 += g.square().sum().getFloat();
            }
            double factor = Math.sqrt(norm2) > clip ? clip / Math.sqrt(norm2) : 1.0;
            double c1 = 1 - Math.pow(b1, step);
            double c2 = 1 - Math.pow(b2, step);
            int i = 0;
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                NDArray p = e.getValue();
                NDArray g = grads.get(i++).mul(factor);
                NDArray m = adamM.get(e.getKey());
                NDArray v = adamV.get(e.getKey());
                m.muli(b1).addi(g.mul(1 - b1));
                v.muli(b2).addi(g.square().mul(1 - b2));
                NDArray update = m.div(c1).div(v.div(c2).sqrt().add(eps));
                boolean decay = e.getKey().endsWith("proj.weight");
                if (decay && weightDecay > 0) {
                    update = update.add(p.mul(weightDecay));
                }
                p.subi(update.mul(lr));
            }
            for (NDArray g : grads) {
                g.muli(0);
            }
            return loss;
        }
    }

    // ------------------------------------------------------------------------------------------------ saving

    /** Writes config.json, generation_config.json and model.safetensors (float32) into {@code dir}. */
    public void save(Path dir, int bosId, int eosId) throws IOException {
        Files.createDirectories(dir);
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = json.createObjectNode();
        cfg.putArray("architectures").add("LlamaForCausalLM");
        cfg.put("model_type", "llama");
        cfg.put("hidden_size", shape.hidden());
        cfg.put("intermediate_size", shape.intermediate());
        cfg.put("num_hidden_layers", shape.layers());
        cfg.put("num_attention_heads", shape.heads());
        cfg.put("num_key_value_heads", shape.heads());
        cfg.put("vocab_size", shape.vocab());
        cfg.put("max_position_embeddings", shape.maxPositions());
        cfg.put("rms_norm_eps", EPS);
        cfg.put("rope_theta", THETA);
        cfg.put("hidden_act", "silu");
        cfg.put("tie_word_embeddings", false);
        cfg.put("attention_bias", false);
        cfg.put("bos_token_id", bosId);
        cfg.put("eos_token_id", eosId);
        cfg.put("torch_dtype", "float32");
        json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), cfg);
        ObjectNode gen = json.createObjectNode();
        gen.put("bos_token_id", bosId);
        gen.put("eos_token_id", eosId);
        json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("generation_config.json").toFile(), gen);

        ObjectNode header = json.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        List<float[]> data = new ArrayList<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            float[] values = e.getValue().toFloatArray();
            data.add(values);
            ObjectNode node = header.putObject(e.getKey());
            node.put("dtype", "F32");
            var dims = node.putArray("shape");
            for (long dim : e.getValue().getShape().getShape()) {
                dims.add(dim);
            }
            var offsets = node.putArray("data_offsets");
            offsets.add(offset);
            offset += 4L * values.length;
            offsets.add(offset);
        }
        byte[] head = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (head.length + 7) / 8 * 8;
        byte[] headPadded = java.util.Arrays.copyOf(head, padded);
        for (int i = head.length; i < padded; i++) {
            headPadded[i] = ' ';
        }
        try (OutputStream out = Files.newOutputStream(dir.resolve("model.safetensors"))) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(headPadded);
            for (float[] values : data) {
                ByteBuffer buf = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(values);
                out.write(buf.array());
            }
        }
    }

    @Override
    public void close() {
        manager.close();
    }

}
