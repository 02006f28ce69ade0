package dev.coolfusion.cli;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.demo.DemoModels;
import dev.coolfusion.demo.DemoModels.ModelSpec;
import dev.coolfusion.eval.Calibration;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.spi.FusionException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Rebuilds the bundled demo models (tokenizers, weights, held-out and development sets, fusion.yaml with each model's
 * calibration temperature fitted on the development set) from fixed seeds. By default every model trains at once in its own JVM with one PyTorch thread: on a small machine that is
 * the fastest layout (one process with several threads spins on contended cores), and each model's result does not
 * depend on the others, so parallel and one-after-the-other runs write the same files.
 */
@Command(name = "train-demo-models", description = "Retrain the bundled demo models from their fixed seeds (CPU, minutes).")
final class TrainDemoModelsCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--out", description = "Output folder (default: ${DEFAULT-VALUE}).", defaultValue = "models")
    Path out;

    @Option(names = "--steps", description = "Training steps per model (default: the standard schedule).")
    Integer steps;

    @Option(names = "--only", split = ",", description = "Only these models (folder names, e.g. a,b).")
    List<String> only = new ArrayList<>();

    @Option(names = "--jobs", description = "Models trained at once, each in its own JVM (default: all of them;"
            + " 1 trains them one after the other in this JVM).")
    Integer jobs;

    @Option(names = "--no-calibrate", description = "Leave the models uncalibrated (by default, once all of them are"
            + " in the output folder, each one's calibration temperature is fitted on its dev.jsonl, under a minute).")
    boolean noCalibrate;

    @Option(names = "--calibration-limit", description = "Calibrate on the first N development items only (default: all).")
    Integer calibrationLimit;

    /** Set by a parallel run for its child JVMs: the parent writes the data files and fusion.yaml. */
    @Option(names = "--models-only", hidden = true)
    boolean modelsOnly;

    @Override
    public Integer call() throws Exception {
        if (steps != null && steps < 1) {
            throw new FusionException("--steps must be at least 1, got " + steps);
        }
        if (jobs != null && jobs < 1) {
            throw new FusionException("--jobs must be at least 1, got " + jobs);
        }
        if (calibrationLimit != null && calibrationLimit < 1) {
            throw new FusionException("--calibration-limit must be at least 1, got " + calibrationLimit);
        }
        List<ModelSpec> models;
        try {
            models = DemoModels.select(only);
        } catch (IllegalArgumentException e) {
            throw new FusionException("--only: " + e.getMessage());
        }
        // One intra-op thread: on a small shared CPU, PyTorch's thread pool spins badly when cores are contended.
        DjlThreads.configure();
        DemoModels.Settings settings = DemoModels.Settings.standard();
        if (steps != null) {
            settings = settings.withSteps(steps);
        }
        PrintWriter log = spec.commandLine().getOut();
        long start = System.nanoTime();
        if (!modelsOnly) {
            DemoModels.writeData(out, log);
        }
        int parallel = Math.min(jobs == null ? models.size() : jobs, models.size());
        if (parallel <= 1) {
            for (ModelSpec model : models) {
                DemoModels.train(model, out, settings, log);
            }
        } else {
            List<List<String>> children = new ArrayList<>();
            for (ModelSpec model : models) {
                List<String> args = new ArrayList<>(List.of("train-demo-models", "--models-only", "--jobs", "1",
                        "--out", out.toString(), "--only", model.dir()));
                if (steps != null) {
                    args.addAll(List.of("--steps", steps.toString()));
                }
                children.add(args);
            }
            try {
                ChildJvms.run(models.stream().map(ModelSpec::dir).toList(), children, parallel, log);
            } catch (FusionException e) {
                throw new FusionException("training " + e.getMessage() + ". Models that finished were written; the"
                        + " others were left as they were.");
            } finally {
                for (ModelSpec model : models) {
                    DemoModels.discardPartial(out, model);
                }
            }
        }
        if (!modelsOnly) {
            DemoModels.writeFusionYaml(out, Map.of());
            boolean allThere = DemoModels.MODELS.stream()
                    .allMatch(m -> Files.isRegularFile(out.resolve(m.dir()).resolve("config.json")));
            if (!noCalibrate && allThere) {
                DemoModels.writeFusionYaml(out, calibrate(log));
            }
        }
        log.printf("done in %.0fs%n", (System.nanoTime() - start) / 1e9);
        log.flush();
        return 0;
    }

    /** Each model's calibration temperature, fitted on the dev set's reference answers (as {@code calibrate} does). */
    private Map<String, Double> calibrate(PrintWriter log) {
        long start = System.nanoTime();
        FusionConfig config = FusionConfigLoader.load(out.resolve("fusion.yaml"));
        Calibration calibration = new Calibration(Plugins.discover(), GsmDataOptions.builtInShots(3),
                WholeAnswers.Ending.of(config.options()));
        List<GsmItem> dev = GsmData.read(out.resolve("dev.jsonl"));
        if (calibrationLimit != null && calibrationLimit < dev.size()) {
            dev = dev.subList(0, calibrationLimit);
        }
        List<Calibration.Fit> fits = calibration.fitAll(config.sources(), dev);
        Map<String, Double> temperatures = new LinkedHashMap<>();
        for (Calibration.Fit f : fits) {
            temperatures.put(f.source(), f.temperature());
            log.printf(Locale.ROOT, "calibrated %s: temperature %.3f, dev NLL/token %.4f -> %.4f%n", f.source(),
                    f.temperature(), f.rawNll(), f.fittedNll());
        }
        log.printf("calibration took %.0fs%n", (System.nanoTime() - start) / 1e9);
        return temperatures;
    }
}
