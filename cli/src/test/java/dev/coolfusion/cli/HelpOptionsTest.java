package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Every command answers picocli's standard help options; before, each subcommand said "Unknown option: '--help'". */
class HelpOptionsTest {

    @Test
    void everyCommandHasHelpAndVersion() {
        List<String> commands = List.copyOf(CoolFusionCli.commandLine().getSubcommands().keySet());
        assertTrue(commands.containsAll(List.of("demo", "eval", "calibrate", "generate", "serve", "score", "providers")),
                commands.toString());
        for (String command : commands) {
            for (String help : List.of("--help", "-h")) {
                Cli.Result r = Cli.run(command, help);
                assertEquals(0, r.exitCode(), command + " " + help + ": " + r.err());
                assertTrue(r.out().startsWith("Usage: cool-fusion " + command) || command.equals("help"),
                        command + " " + help + ": " + r.out());
                assertFalse(r.err().contains("Unknown option"), r.err());
            }
            if (!command.equals("help")) {
                Cli.Result version = Cli.run(command, "--version");
                assertEquals(0, version.exitCode(), command + ": " + version.err());
                assertEquals("cool-fusion 0.1.0-SNAPSHOT", version.out().strip(), command);
            }
        }
        Cli.Result top = Cli.run("--help");
        assertEquals(0, top.exitCode());
        assertTrue(top.out().contains("-h, --help"), top.out());
    }
}
