package dev.coolfusion.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.FusionException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class AnswersTest {
    @Test
    void theAnswerIsWinsElseTheLastNumber() {
        assertEquals("29", Answers.extract(" 3 * 12 = 36. 36 - 7 = 29. The answer is 29."));
        assertEquals("29", Answers.extract(" The answer is 29. Then 5 more"));
        assertEquals("1234", Answers.extract(" so 1,234."));
        assertEquals("18", Answers.extract("Janet sells 16 - 3 - 4 = 9 eggs, 9 * 2 = $18"));
        assertEquals("2.5", Answers.extract("The answer is 2.50"));
        assertNull(Answers.extract("no number here"));
        assertTrue(Answers.correct("The answer is 42.", "42"));
        assertFalse(Answers.correct("The answer is 41.", "42"));
    }

    @Test
    void gsmLinesParseAndBadLinesNameTheirLine() {
        Path f = Path.of("x.jsonl");
        GsmItem item = GsmData.parse("{\"question\": \"q?\", \"answer\": \"a <<2*3=6>>6\\nb\\n#### 1,000\"}", 4, f);
        assertEquals("1000", item.gold());
        assertEquals("a 6 b", item.solution());
        for (var bad : List.of("{\"question\": \"q\"", "{\"question\": \"q\"}", "{\"answer\": \"#### 3\"}",
                "{\"question\": \"q\", \"answer\": \"no hashes\"}", "{\"question\": \"q\", \"answer\": \"#### many\"}", "[1]")) {
            FusionException e = org.junit.jupiter.api.Assertions.assertThrows(FusionException.class, () -> GsmData.parse(bad, 7, f));
            assertTrue(e.getMessage().startsWith("x.jsonl:7: "), e.getMessage());
        }
    }

    @Test
    void methodsParse() {
        List<String> names = List.of("A", "B", "C");
        assertEquals(List.of("A", "B"), EvalMethod.parse("cool2", names).sources());
        assertEquals(List.of("A", "C"), EvalMethod.parse("cool:C+A", names).sources());
        assertEquals(EvalMethod.Kind.COOL_ALIGN, EvalMethod.parse("cool-align", names).kind());
        assertEquals(EvalMethod.Kind.COOL_RERANK, EvalMethod.parse("cool+rerank", names).kind());
        assertEquals(List.of("B"), EvalMethod.parse("single:B", names).sources());
        for (String bad : List.of("best", "single:D", "cool4", "cool:A+A", "rerank:Z")) {
            org.junit.jupiter.api.Assertions.assertThrows(FusionException.class, () -> EvalMethod.parse(bad, names), bad);
        }
        List<String> defaults = EvalMethod.defaults(names).stream().map(EvalMethod::name).toList();
        assertEquals(List.of("single:A", "single:B", "single:C", "rerank", "cool2", "cool", "cool+rerank", "cool-align"),
                defaults);
    }

    @Test
    void fewShotPromptsEndWithTheQuestion() {
        FewShot shots = BundledShots.three();
        String p = shots.prompt("How many?");
        assertTrue(p.endsWith("\n\nQuestion: How many?\nAnswer:"), p);
        assertEquals(4, p.split("Question: ", -1).length - 1);
        assertEquals(3, p.split("The answer is ", -1).length - 1);
    }
}
