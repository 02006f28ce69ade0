package dev.coolfusion.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.djl.model.ModelDtype;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.testkit.TinyCheckpoints;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Checks a device against the CPU: every shared tiny checkpoint's log-probabilities on the device in each dtype versus
 * the CPU in float32, then prefill, greedy decode and batched scoring speed on a larger random Llama.
 */
@Command(name = "gpu-check", description = "Compare each hf-tiny* fixture's log-probs on a device (default gpu) in"
        + " float32 and float16 with the CPU's float32 ones, then time prefill, greedy decode and batched scoring of a"
        + " random Llama there. Exit 0: all within tolerance; 4: a mismatch; 3: no GPU visible to the engine.")
final class GpuCheckCommand implements Callable<Integer> {
    /** The exit code when the engine sees no GPU (distinct from errors, 1, and mismatches). */
    static final int NO_GPU = 3;
    /** The exit code when some log-probs differ by more than their dtype's tolerance. */
    static final int MISMATCH = 4;
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--device", defaultValue = "gpu", description = "The device to check: gpu, gpu:N or cpu (the CPU"
            + " against itself, for trying the check out; default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--fixtures", defaultValue = "../shared/fixtures", paramLabel = "<dir>", description = "The folder"
            + " holding hf-tiny*/<model>/ checkpoints with a reference.json (default: ${DEFAULT-VALUE}).")
    Path fixtures;

    @Option(names = "--only", paramLabel = "<model>", description = "Check only the fixtures of these names.",
            split = ",")
    List<String> only;

    @Option(names = "--dtypes", split = ",", defaultValue = "float32,float16", description = "Dtypes to run on the"
            + " device (default: ${DEFAULT-VALUE}; bfloat16 is refused by the loader, see backend-djl/README.md).")
    List<String> dtypes;

    @Option(names = "--float32-tolerance", defaultValue = "1e-4", description = "Largest absolute log-prob difference"
            + " accepted for float32 (default: ${DEFAULT-VALUE}, the project's tolerance against transformers).")
    double float32Tolerance;

    @Option(names = "--float16-tolerance", defaultValue = "2e-2", description = "The same for float16 (default:"
            + " ${DEFAULT-VALUE}: half-precision weights and activations, float32 log-softmax).")
    double float16Tolerance;

    @Option(names = "--shape", defaultValue = "medium", paramLabel = "small|medium|none", description = "The random"
            + " Llama to time (the bench-model reference shapes; none: no timing; default: ${DEFAULT-VALUE}).")
    String shape;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!(float32Tolerance >= 0) || !(float16Tolerance >= 0)) {
            throw new IllegalArgumentException("tolerances must be >= 0, got " + float32Tolerance + " and "
                    + float16Tolerance);
        }
        List<ModelDtype> kinds = new ArrayList<>();
        for (String d : dtypes) {
            ModelDtype dtype = ModelDtype.parse(d);
            if (dtype == ModelDtype.BFLOAT16) {
                throw new IllegalArgumentException("--dtypes bfloat16: DJL 0.36's PyTorch JNI aborts the JVM on bfloat16"
                        + " tensors, so the loader refuses it; check float32 and float16");
            }
            kinds.add(dtype);
        }
        TinyCheckpoints.Spec timed = switch (shape) {
            case "small" -> TinyCheckpoints.Spec.llamaSmall();
            case "medium" -> TinyCheckpoints.Spec.llamaMedium();
            case "none" -> null;
            default -> throw new IllegalArgumentException("--shape takes small, medium or none, got '" + shape + "'");
        };
        Device target = DjlModelOptions.builder().device(device).build().djlDevice();
        Engine engine = Engine.getEngine("PyTorch");
        if (target.isGpu() && target.getDeviceId() >= engine.getGpuCount()) {
            err.printf(Locale.ROOT, "gpu-check: no GPU: the PyTorch engine (libtorch %s) sees %d GPU(s), device %s was"
                    + " asked for. The default build bundles the CPU libtorch; see scripts/gpu-check.sh for getting the"
                    + " CUDA one. Nothing was checked.%n", engine.getVersion(), engine.getGpuCount(), device);
            err.flush();
            return NO_GPU;
        }
        List<Path> models = fixtureModels();
        out.printf(Locale.ROOT, "device %s (%s), libtorch %s; log-probs against cpu float32; tolerances: float32 %.0e,"
                + " float16 %.0e%n", device, target, engine.getVersion(), float32Tolerance, float16Tolerance);
        out.printf(Locale.ROOT, "%-32s %-8s %12s %12s %12s  %s%n", "fixture", "dtype", "every pos", "cached", "scored",
                "result");
        boolean mismatch = false;
        for (Path dir : models) {
            Figures cpu = figures(dir, DjlModelOptions.builder().device("cpu").dtype(ModelDtype.FLOAT32).build());
            for (ModelDtype dtype : kinds) {
                Figures there = figures(dir, DjlModelOptions.builder().device(device).dtype(dtype).build());
                double every = maxDiff(cpu.every(), there.every());
                double cached = maxDiff(cpu.cached(), there.cached());
                double scored = maxDiff(cpu.scored(), there.scored());
                double tolerance = dtype == ModelDtype.FLOAT16 ? float16Tolerance : float32Tolerance;
                boolean ok = every <= tolerance && cached <= tolerance && scored <= tolerance;
                mismatch |= !ok;
                out.printf(Locale.ROOT, "%-32s %-8s %12.3e %12.3e %12.3e  %s%n",
                        dir.getParent().getFileName() + "/" + dir.getFileName(), dtype.name().toLowerCase(Locale.ROOT),
                        every, cached, scored, ok ? "ok" : "MISMATCH (over " + tolerance + ")");
            }
        }
        out.flush();
        if (timed != null) {
            time(out, err, timed, kinds);
        }
        out.println(mismatch ? "gpu-check: MISMATCH" : "gpu-check: all within tolerance");
        out.flush();
        return mismatch ? MISMATCH : 0;
    }

    /** {@code hf-tiny*}/{@code <model>} folders with a config and a reference, sorted; filtered by {@code --only}. */
    private List<Path> fixtureModels() throws IOException {
        if (!Files.isDirectory(fixtures)) {
            throw new FusionException("no fixtures folder at " + fixtures.toAbsolutePath() + "; give --fixtures <dir>");
        }
        List<Path> found = new ArrayList<>();
        try (Stream<Path> sets = Files.list(fixtures)) {
            for (Path set : sets.filter(p -> p.getFileName().toString().startsWith("hf-tiny")).sorted().toList()) {
                try (Stream<Path> dirs = Files.list(set)) {
                    dirs.filter(d -> Files.isRegularFile(d.resolve("config.json"))
                                    && Files.isRegularFile(d.resolve("reference.json")))
                            .filter(d -> only == null || only.contains(d.getFileName().toString()))
                            .sorted().forEach(found::add);
                }
            }
        }
        if (found.isEmpty()) {
            throw new FusionException("no hf-tiny*/<model>/ checkpoints with a reference.json under "
                    + fixtures.toAbsolutePath() + (only == null ? "" : " named " + only));
        }
        return found;
    }

    /**
     * What one device computes for a fixture's first reference sequence: every position's log-probs from one forward,
     * the log-probs after its prefix (prefill) and after each later token (cached steps, through scoring the rest),
     * and the scored tokens' log-probs.
     */
    private record Figures(float[][] every, float[][] cached, float[][] scored) {}

    private static Figures figures(Path dir, DjlModelOptions options) throws IOException {
        JsonNode ref = JSON.readTree(dir.resolve("reference.json").toFile());
        List<Integer> ids = new ArrayList<>();
        ref.get("input_ids").get(0).forEach(n -> ids.add(n.asInt()));
        int prefix = ref.get("prefix_len").asInt();
        try (DjlSourceModel model = DjlSourceModel.load(dir, options)) {
            float[][] every = model.sequenceLogProbs(ids);
            List<float[]> cached = new ArrayList<>();
            StateHandle state = model.open(ids.subList(0, prefix));
            List<StateHandle> handles = new ArrayList<>(List.of(state));
            cached.add(model.nextLogProbs(state));
            List<Integer> rest = ids.subList(prefix, ids.size());
            List<List<Integer>> prefixes = new ArrayList<>();
            for (int n = 1; n <= rest.size(); n++) {
                prefixes.add(rest.subList(0, n));
            }
            List<ScoredTokens> scored = model.score(state, prefixes);
            float[] scoredLogProbs = new float[rest.size()];
            for (int n = 0; n < scored.size(); n++) {
                handles.add(scored.get(n).state());
                cached.add(model.nextLogProbs(scored.get(n).state()));
                scoredLogProbs[n] = scored.get(n).logProbs().get(n).floatValue();
            }
            model.release(handles);
            return new Figures(every, cached.toArray(float[][]::new), new float[][] {scoredLogProbs});
        }
    }

    private static double maxDiff(float[][] a, float[][] b) {
        double worst = 0;
        for (int r = 0; r < a.length; r++) {
            for (int i = 0; i < a[r].length; i++) {
                double d = Math.abs(a[r][i] - b[r][i]);
                worst = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(worst, d);
            }
        }
        return worst;
    }

    /** Prefill, greedy decode and batched scoring of a random Llama on the CPU (float32) and on the device. */
    private void time(PrintWriter out, PrintWriter err, TinyCheckpoints.Spec timed, List<ModelDtype> kinds)
            throws IOException {
        Path dir = Files.createTempDirectory("cool-fusion-gpu-check-");
        try {
            err.printf(Locale.ROOT, "writing a random %s Llama (%,d parameters) to %s%n", shape, timed.parameters(), dir);
            err.flush();
            TinyCheckpoints.write(dir, timed);
            ModelBenchmark.Settings settings = new ModelBenchmark.Settings(256, 128, 8, 16, 0, 5);
            out.printf(Locale.ROOT, "%n%s Llama: prefill of %d tokens, %d greedy decode steps, %d candidates of %d tokens"
                    + " scored in one call%n", shape, settings.promptTokens(), settings.decodeTokens(),
                    settings.candidates(), settings.candidateTokens());
            out.printf(Locale.ROOT, "%-10s %-8s %14s %14s %14s %10s%n", "device", "dtype", "prefill tok/s",
                    "decode tok/s", "score ms", "decode x");
            double cpuDecode = Double.NaN;
            List<String[]> runs = new ArrayList<>();
            if (!"cpu".equals(device)) {
                runs.add(new String[] {"cpu", "float32"});
            }
            for (ModelDtype dtype : kinds) {
                runs.add(new String[] {device, dtype.name().toLowerCase(Locale.ROOT)});
            }
            for (String[] run : runs) {
                ModelBenchmark.Result r = ModelBenchmark.run(dir, DjlModelOptions.builder().device(run[0]).dtype(run[1])
                        .name("llama-" + shape).build(), settings);
                if (Double.isNaN(cpuDecode)) {
                    cpuDecode = r.decodeTokensPerSecond();
                }
                out.printf(Locale.ROOT, "%-10s %-8s %14.0f %14.1f %14.2f %9.2fx%n", run[0], run[1],
                        r.prefillTokensPerSecond(), r.decodeTokensPerSecond(), r.batchedScoreMillis(),
                        r.decodeTokensPerSecond() / cpuDecode);
                out.flush();
            }
        } finally {
            MoreFiles.deleteRecursively(dir, RecursiveDeleteOption.ALLOW_INSECURE);
        }
    }
}
