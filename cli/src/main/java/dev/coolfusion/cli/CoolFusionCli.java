package dev.coolfusion.cli;

import dev.coolfusion.spi.FusionException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code cool-fusion} command line. Every command has picocli's standard help options ({@code -h}/{@code --help},
 * {@code -V}/{@code --version}): {@code scope = INHERIT} hands {@code mixinStandardHelpOptions} and the version on
 * to each subcommand.
 */
@Command(
        name = "cool-fusion",
        scope = CommandLine.ScopeType.INHERIT,
        mixinStandardHelpOptions = true,
        version = "cool-fusion 0.1.0-SNAPSHOT",
        description = "Fuse language models with different tokenizers at generation time (Cool-Fusion).",
        subcommands = {
            DemoCommand.class,
            EvalCommand.class,
            CalibrateCommand.class,
            TrainDemoModelsCommand.class,
            GenerateCommand.class,
            ServeCommand.class, WorkerCommand.class, BenchServeCommand.class,
            BenchRemoteCommand.class,
            BenchFusionCommand.class,
            BoundariesCommand.class,
            ChatTemplateCommand.class,
            ScoreCommand.class,
            BenchModelCommand.class, GpuCheckCommand.class,
            ProvidersCommand.class,
            CommandLine.HelpCommand.class
        })
public final class CoolFusionCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** A command line whose errors print one clear message instead of a stack trace. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new CoolFusionCli());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            if (e instanceof FusionException || e instanceof IllegalArgumentException) {
                err.println("error: " + e.getMessage());
            } else {
                err.println("error: " + e);
                e.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        return cli;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
