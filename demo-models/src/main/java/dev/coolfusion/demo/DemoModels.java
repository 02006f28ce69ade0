package dev.coolfusion.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.coolfusion.demo.DemoTokenizers.Kind;
import dev.coolfusion.demo.Problems.Family;
import dev.coolfusion.demo.Problems.Problem;
import dev.coolfusion.demo.train.LlamaTrainer;
import dev.coolfusion.hf.HfTextCodec;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Builds the bundled demo: the held-out test set, three tokenizers of different families and three small Llama
 * models trained on different mixes of the problem families, all from fixed seeds.
 *
 * <p>Held-out isolation holds by construction twice over: the held-out problems come from their own seed, and every
 * training (and tokenizer-training) problem whose canonical question is in the held-out set is skipped.
 */
public final class DemoModels {
    /** Seed of the held-out test set. */
    public static final long HELDOUT_SEED = 1_000_003L;
    /** Seed of the few-shot exemplars. */
    public static final long SHOTS_SEED = 2_000_003L;
    /** Seed of the tokenizer-training corpus. */
    public static final long TOKENIZER_SEED = 3_000_003L;
    /** Number of held-out problems. */
    public static final int HELDOUT_SIZE = 600;
    /** Seed of the development set (method investigation; disjoint from training, held-out set and shots). */
    public static final long DEV_SEED = 4_000_003L;
    /** Number of development problems. */
    public static final int DEV_SIZE = 300;

    /**
     * One bundled model.
     *
     * @param dir     folder name under models/
     * @param name    source name in the fusion
     * @param kind    tokenizer family
     * @param merges  BPE merges
     * @param mix     weights of ADD, MUL, MIX problems in its training data
     * @param seed    data and init seed
     */
    public record ModelSpec(String dir, String name, Kind kind, int merges, double[] mix, long seed) {}

    public static final List<ModelSpec> MODELS = List.of(
            new ModelSpec("a", "A", Kind.BYTE_BPE, 450, new double[] {0.8, 0.1, 0.1}, 101),
            new ModelSpec("b", "B", Kind.SENTENCEPIECE, 400, new double[] {0.1, 0.8, 0.1}, 202),
            new ModelSpec("c", "C", Kind.WHOLE_NUMBER, 500, new double[] {0.15, 0.15, 0.7}, 303));

    /** Training settings shared by all models. */
    public record Settings(LlamaTrainer.Shape0 shape, LlamaTrainer.Schedule schedule, int rows) {
        public static Settings standard() {
            return new Settings(new LlamaTrainer.Shape0(0, 128, 384, 4, 4, 512),
                    new LlamaTrainer.Schedule(650, 16, 256, 3e-3, 3e-4, 40, 0.01, 1.0), 6000);
        }

        /** Problems drawn per model: more than its training rows can hold, so every row is full. */
        public int problems() {
            return rows * 4;
        }

        public Settings withSteps(int steps) {
            LlamaTrainer.Schedule s = schedule;
            return new Settings(shape, new LlamaTrainer.Schedule(steps, s.batch(), s.seqLen(), s.lr(), s.minLr(),
                    Math.min(s.warmup(), Math.max(1, steps / 10)), s.weightDecay(), s.clip()), rows);
        }
    }

    private DemoModels() {}

    /** The few-shot exemplars: one problem per family from {@link #SHOTS_SEED}. */
    public static List<Problem> shots() {
        Problems gen = new Problems(SHOTS_SEED);
        List<Problem> out = new ArrayList<>();
        for (Family f : new Family[] {Family.ADD, Family.MUL, Family.MIX}) {
            out.add(gen.next(f));
        }
        return out;
    }

    /** The held-out problems: {@link #HELDOUT_SIZE} distinct problems from {@link #HELDOUT_SEED}, no shot among them. */
    public static List<Problem> heldout() {
        Set<String> exclude = new HashSet<>();
        for (Problem p : shots()) {
            exclude.add(Problems.canonical(p.question()));
        }
        return new Problems(HELDOUT_SEED).distinct(HELDOUT_SIZE, exclude);
    }

    /** Canonical questions training must never see. */
    public static Set<String> heldoutKeys() {
        Set<String> keys = new HashSet<>();
        for (Problem p : heldout()) {
            keys.add(Problems.canonical(p.question()));
        }
        return keys;
    }

    /**
     * The development set: {@link #DEV_SIZE} distinct problems from {@link #DEV_SEED}, with every shot, held-out,
     * tokenizer-corpus and training question of every model excluded (the same canonical-question guard as the
     * held-out set). Method choices are made on this set, never on the held-out one.
     */
    public static List<Problem> dev() {
        Set<String> exclude = new HashSet<>(heldoutKeys());
        for (Problem p : shots()) {
            exclude.add(Problems.canonical(p.question()));
        }
        for (Problem p : tokenizerProblems(exclude)) {
            exclude.add(Problems.canonical(p.question()));
        }
        Set<String> heldout = heldoutKeys();
        int problems = Settings.standard().problems();
        for (ModelSpec spec : MODELS) {
            for (Problem p : trainingProblems(spec, problems, heldout)) {
                exclude.add(Problems.canonical(p.question()));
            }
        }
        return new Problems(DEV_SEED).distinct(DEV_SIZE, exclude);
    }

    /** The tokenizer-training problems (balanced families), held-out questions skipped. */
    static List<Problem> tokenizerProblems(Set<String> heldout) {
        List<Problem> out = new ArrayList<>();
        Problems tokGen = new Problems(TOKENIZER_SEED);
        while (out.size() < 3000) {
            Problem p = tokGen.next(new double[] {1, 1, 1});
            if (!heldout.contains(Problems.canonical(p.question()))) {
                out.add(p);
            }
        }
        return out;
    }

    /** Writes problems as GSM8K JSON lines with a {@code family} field. */
    public static void writeGsm(List<Problem> problems, Path file) throws IOException {
        ObjectMapper json = new ObjectMapper();
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (Problem p : problems) {
                ObjectNode line = json.createObjectNode();
                line.put("question", p.question());
                line.put("answer", p.gsmAnswer());
                line.put("family", p.family().name().toLowerCase(Locale.ROOT));
                w.write(json.writeValueAsString(line));
                w.write('\n');
            }
        }
    }

    /** The training problems of one model: drawn with its mix from its seed, held-out questions skipped. */
    public static Problems.Problem[] trainingProblems(ModelSpec spec, int n, Set<String> heldout) {
        Problems gen = new Problems(spec.seed() * 7919L + 17);
        Problem[] out = new Problem[n];
        for (int i = 0; i < n; ) {
            Problem p = gen.next(spec.mix());
            if (!heldout.contains(Problems.canonical(p.question()))) {
                out[i++] = p;
            }
        }
        return out;
    }

    /** The models named by folder ({@code a}, {@code b}, ...), in {@link #MODELS} order; all when empty. */
    public static List<ModelSpec> select(List<String> only) {
        List<String> known = MODELS.stream().map(ModelSpec::dir).toList();
        for (String name : only) {
            if (!known.contains(name)) {
                throw new IllegalArgumentException("unknown demo model '" + name + "'; the models are " + known);
            }
        }
        return MODELS.stream().filter(m -> only.isEmpty() || only.contains(m.dir())).toList();
    }

    /** Writes the held-out and development sets (GSM8K JSON lines) into {@code out}. */
    public static void writeData(Path out, PrintWriter log) throws IOException {
        Files.createDirectories(out);
        writeGsm(shots(), out.resolve("shots.jsonl"));
        writeGsm(heldout(), out.resolve("heldout.jsonl"));
        writeGsm(dev(), out.resolve("dev.jsonl"));
        log.printf("held-out set: %d problems -> %s; dev set: %d -> %s%n", HELDOUT_SIZE, out.resolve("heldout.jsonl"),
                DEV_SIZE, out.resolve("dev.jsonl"));
        log.flush();
    }

    /**
     * Trains one model's tokenizer and weights into {@code out/<dir>}. Everything is written to a hidden sibling
     * folder first and swapped in at the end, so a failed or interrupted run leaves the previous model whole.
     */
    public static void train(ModelSpec spec, Path out, Settings settings, PrintWriter log) throws IOException {
        long start = System.nanoTime();
        Set<String> keys = heldoutKeys();
        // One tokenizer corpus for all three families (balanced), held-out questions excluded.
        List<String> tokCorpus = new ArrayList<>();
        for (Problem p : tokenizerProblems(keys)) {
            tokCorpus.add(p.text() + "\n\n");
        }
        Path dir = out.resolve(spec.dir());
        Path partial = partialDir(out, spec);
        deleteTree(partial);
        Files.createDirectories(partial);
        try {
            trainInto(spec, partial, settings, tokCorpus, keys, start, log);
        } catch (IOException | RuntimeException | Error e) {
            deleteTree(partial);
            throw e;
        }
        Path old = out.resolve("." + spec.dir() + ".old");
        deleteTree(old);
        if (Files.exists(dir)) {
            Files.move(dir, old);
        }
        Files.move(partial, dir);
        deleteTree(old);
        log.printf("model %s written to %s in %.0fs%n", spec.name(), dir, (System.nanoTime() - start) / 1e9);
        log.flush();
    }

    private static void deleteTree(Path root) throws IOException {
        if (Files.exists(root)) {
            MoreFiles.deleteRecursively(root, RecursiveDeleteOption.ALLOW_INSECURE);
        }
    }

    /** Removes what an interrupted {@link #train} of {@code spec} left in {@code out} (the model itself is kept). */
    public static void discardPartial(Path out, ModelSpec spec) throws IOException {
        deleteTree(partialDir(out, spec));
    }

    private static Path partialDir(Path out, ModelSpec spec) {
        return out.resolve("." + spec.dir() + ".partial");
    }

    private static void trainInto(ModelSpec spec, Path partial, Settings settings, List<String> tokCorpus,
            Set<String> keys, long start, PrintWriter log) throws IOException {
        DemoTokenizers.write(spec.kind(), tokCorpus, spec.merges(), settings.shape().maxPositions(), partial);
        List<int[]> rows;
        int vocab;
        try (HfTextCodec codec = HfTextCodec.load(partial)) {
            vocab = vocabSize(partial);
            rows = rows(codec, trainingProblems(spec, settings.problems(), keys), settings.rows(),
                    settings.schedule().seqLen() + 1);
        }
        LlamaTrainer.Shape0 shape = new LlamaTrainer.Shape0(vocab, settings.shape().hidden(),
                settings.shape().intermediate(), settings.shape().layers(), settings.shape().heads(),
                settings.shape().maxPositions());
        log.printf("model %s (%s tokenizer, vocab %d, %,d parameters, mix add/mul/mix %s): %d training rows of %d tokens%n",
                spec.name(), spec.kind().name().toLowerCase(Locale.ROOT), vocab, shape.parameters(),
                java.util.Arrays.toString(spec.mix()), rows.size(), settings.schedule().seqLen() + 1);
        log.flush();
        try (LlamaTrainer trainer = new LlamaTrainer(shape, spec.seed())) {
            int every = Math.max(1, settings.schedule().steps() / 20);
            double[] sum = new double[1];
            trainer.train(rows, settings.schedule(), spec.seed() + 1, (step, loss, lr) -> {
                sum[0] += loss;
                if ((step + 1) % every == 0) {
                    log.printf("  %s step %4d/%d  loss %.4f  lr %.2e  %.0fs%n", spec.name(), step + 1,
                            settings.schedule().steps(), sum[0] / every, lr, (System.nanoTime() - start) / 1e9);
                    log.flush();
                    sum[0] = 0;
                }
            });
            trainer.save(partial, 1, 2);
        }
    }


    static int vocabSize(Path dir) throws IOException {
        var t = new ObjectMapper().readTree(dir.resolve("tokenizer.json").toFile());
        int max = -1;
        for (var it = t.path("model").path("vocab").fields(); it.hasNext(); ) {
            max = Math.max(max, it.next().getValue().asInt());
        }
        for (var a : t.path("added_tokens")) {
            max = Math.max(max, a.path("id").asInt());
        }
        return max + 1;
    }

    /** Packs problems into rows: BOS, then examples separated by a blank line, cut to {@code length} tokens. */
    static List<int[]> rows(HfTextCodec codec, Problem[] problems, int count, int length) {
        List<int[]> rows = new ArrayList<>();
        int next = 0;
        while (rows.size() < count && next < problems.length) {
            StringBuilder text = new StringBuilder();
            List<Integer> ids = List.of();
            while (ids.size() < length && next < problems.length) {
                if (text.length() > 0) {
                    text.append("\n\n");
                }
                text.append(problems[next++].text());
                if (text.length() > length * 2) {
                    ids = codec.encodePrompt(text.toString());
                }
            }
            if (ids.size() < length) {
                ids = codec.encodePrompt(text.toString());
            }
            if (ids.size() >= length) {
                int[] row = new int[length];
                for (int i = 0; i < length; i++) {
                    row[i] = ids.get(i);
                }
                rows.add(row);
            }
        }
        return rows;
    }

    /** Writes fusion.yaml, the config that fuses all bundled models, into {@code out}. */
    public static void writeFusionYaml(Path out, Map<String, Double> temperatures) throws IOException {
        StringBuilder y = new StringBuilder();
        y.append("# The bundled demo fusion: three small models with different tokenizers (see README.md).\n");
        if (!temperatures.isEmpty()) {
            y.append("# calibration-temperature: fitted on dev.jsonl's reference answers by train-demo-models (as\n");
            y.append("# 'cool-fusion calibrate --config fusion.yaml --data dev.jsonl' does).\n");
        }
        y.append("sources:\n");
        for (ModelSpec spec : MODELS) {
            y.append("  - provider: djl\n");
            y.append("    options: {path: ").append(spec.dir()).append(", name: ").append(spec.name());
            Double t = temperatures.get(spec.name());
            if (t != null) {
                y.append(", calibration-temperature: ").append(String.format(Locale.ROOT, "%.3f", t));
            }
            y.append("}\n");
        }
        y.append("metric: avg-ppl\n");
        y.append("options:\n");
        y.append("  max-new-tokens: 96\n");
        y.append("  stop: [\"\\n\\n\", \"Question:\"]\n");
        Files.writeString(out.resolve("fusion.yaml"), y.toString());
    }
}
