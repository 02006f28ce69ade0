package dev.coolfusion.cli;

import dev.coolfusion.demo.DemoModels;
import dev.coolfusion.demo.DemoModels.ModelSpec;
import dev.coolfusion.spi.FusionException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Rebuilds the bundled demo models (tokenizers, weights, held-out and development sets, fusion.yaml) from fixed
 * seeds. By default every model trains at once in its own JVM with one PyTorch thread: on a small machine that is
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
            DemoModels.writeFusionYaml(out);
        }
        log.printf("done in %.0fs%n", (System.nanoTime() - start) / 1e9);
        log.flush();
        return 0;
    }
}
