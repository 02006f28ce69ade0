package dev.coolfusion.cli;

import dev.coolfusion.demo.DemoModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Rebuilds the bundled demo models (tokenizers, weights, held-out set, fusion.yaml) from fixed seeds. */
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

    @Override
    public Integer call() throws Exception {
        // One intra-op thread: on a small shared CPU, PyTorch's thread pool spins badly when cores are contended.
        DjlThreads.configure();
        DemoModels.Settings settings = DemoModels.Settings.standard();
        if (steps != null) {
            settings = settings.withSteps(steps);
        }
        long start = System.nanoTime();
        DemoModels.build(out, settings, only, spec.commandLine().getOut());
        spec.commandLine().getOut().printf("done in %.0fs%n", (System.nanoTime() - start) / 1e9);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
