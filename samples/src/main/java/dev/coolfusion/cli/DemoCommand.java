package dev.coolfusion.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The main job; until the bundled demo models exist it says honestly what is there. */
@Command(name = "demo", description = "Fuse the bundled demo models on held-out problems (not built yet).")
final class DemoCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        out.println("cool-fusion demo: the bundled demo models are not built yet.");
        out.println();
        out.println("What works today:");
        out.println("  - the fusion core (T1 aligned segments, joint assessment, Eq. 3 rerank, commit), tested");
        out.println("    with scripted models: ./mvnw -B verify");
        out.println("  - word-boundary alignment on real Hugging Face tokenizers:");
        out.println("      ./cool-fusion boundaries --tokenizer ../shared/fixtures/tokenizers/llama3 \\");
        out.println("        --tokenizer ../shared/fixtures/tokenizers/llama2 --text \"Multi-tasking is hard.\"");
        out.println("  - the plugins on the class path: ./cool-fusion providers");
        out.println();
        out.println("Next: local Hugging Face models on DJL, then three small bundled models for this demo.");
        out.flush();
        return 0;
    }
}
