package dev.coolfusion.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.FusionException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GsmDataTest {
    @TempDir
    Path dir;

    private static final String GOOD = "{\"question\": \"Zoë has 2 pens. How many?\", \"answer\": \"2\\n#### 2\"}\n";

    @Test
    void readsUtf8ItemsWithTheirLines() throws Exception {
        Path file = Files.writeString(dir.resolve("data.jsonl"), GOOD + "\n" + GOOD, StandardCharsets.UTF_8);
        var items = GsmData.read(file);
        assertEquals(2, items.size());
        assertEquals("Zoë has 2 pens. How many?", items.get(0).question());
        assertEquals(3, items.get(1).line());
    }

    @Test
    void aFileThatIsNotUtf8SaysSoAndWhere() throws Exception {
        // Before: "cannot read data file ...: Input length = 1".
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.write(GOOD.getBytes(StandardCharsets.UTF_8));
        bytes.write("{\"question\": \"Zo".getBytes(StandardCharsets.US_ASCII));
        bytes.write(0xEB); // 'ë' in Latin-1
        bytes.write(" has 2 pens.\", \"answer\": \"#### 2\"}\n".getBytes(StandardCharsets.US_ASCII));
        Path file = Files.write(dir.resolve("latin1.jsonl"), bytes.toByteArray());
        FusionException e = assertThrows(FusionException.class, () -> GsmData.read(file));
        assertTrue(e.getMessage().startsWith(file + ":2: the file is not UTF-8 (byte 0xEB at column 17, offset "
                + (GOOD.getBytes(StandardCharsets.UTF_8).length + 16) + ")"), e.getMessage());
    }
}
