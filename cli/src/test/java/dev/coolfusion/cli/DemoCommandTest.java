package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.BundledModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code demo}'s errors name what is wrong: the config, the held-out file next to it, the option. */
class DemoCommandTest {

    @Test
    void aConfigThatDoesNotExistIsNamed(@TempDir Path tmp) {
        // Before: "cannot read data file .../heldout.jsonl", which never named the config.
        Path missing = tmp.resolve("missing.yaml");
        Cli.Result r = Cli.run("demo", "--config", missing.toString());
        assertEquals(1, r.exitCode());
        assertTrue(r.err().startsWith("error: cannot read fusion config"), r.err());
        assertTrue(r.err().contains(missing.toString()), r.err());
        assertFalse(r.err().contains("heldout.jsonl"), r.err());
    }

    @Test
    void aConfigWithoutHeldOutProblemsNextToItSaysSoAndWhatToRunInstead(@TempDir Path tmp) throws Exception {
        Path models = BundledModels.dir();
        Path config = Files.writeString(tmp.resolve("fusion.yaml"), Files.readString(models.resolve("fusion.yaml"))
                .replace("path: a", "path: " + models.resolve("a")).replace("path: b", "path: " + models.resolve("b"))
                .replace("path: c", "path: " + models.resolve("c")));
        Cli.Result r = Cli.run("demo", "--config", config.toString());
        assertEquals(1, r.exitCode());
        assertTrue(r.err().startsWith("error: demo --config " + config), r.err());
        assertTrue(r.err().contains(tmp.resolve("heldout.jsonl").toString()), r.err());
        assertTrue(r.err().contains("cool-fusion eval"), r.err());
    }

    @Test
    void badCountsAreNamed() {
        // Before: "fromIndex(0) > toIndex(-1)".
        Cli.Result sample = Cli.run("demo", "--sample", "-1");
        assertEquals(1, sample.exitCode());
        assertEquals("error: --sample must be at least 1, got -1", sample.err().strip());
        Cli.Result show = Cli.run("demo", "--show", "-2");
        assertEquals(1, show.exitCode());
        assertEquals("error: --show must be at least 0, got -2", show.err().strip());
    }
}
