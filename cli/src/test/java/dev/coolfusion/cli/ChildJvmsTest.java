package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.FusionException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Commands of this command line in child JVMs: output under each child's name, a failing child named. */
class ChildJvmsTest {
    @Test
    void prefixesOutputAndNamesTheChildThatFailed() {
        StringWriter text = new StringWriter();
        PrintWriter log = new PrintWriter(text);
        FusionException e = assertThrows(FusionException.class, () -> ChildJvms.run(List.of("ok", "bad"),
                List.of(List.of("providers"), List.of("no-such-command")), 1, log));
        assertTrue(e.getMessage().startsWith("[bad] (exit code "), e.getMessage());
        String out = text.toString();
        assertTrue(out.lines().anyMatch(l -> l.startsWith("[ok] ") && l.contains("djl")), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("[bad] ") && l.contains("no-such-command")), out);
        assertTrue(out.lines().allMatch(l -> l.startsWith("[ok] ") || l.startsWith("[bad] ")), out);
    }
}
