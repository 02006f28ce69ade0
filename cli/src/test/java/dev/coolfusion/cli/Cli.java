package dev.coolfusion.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the {@code cool-fusion} command line in-process and captures what it prints. */
public final class Cli {
    /** The exit code and everything written to standard output and standard error. */
    public record Result(int exitCode, String out, String err) {}

    private Cli() {}

    public static Result run(String... args) {
        CommandLine cli = CoolFusionCli.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Result(code, out.toString(), err.toString());
    }
}
