package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** {@code cool-fusion score} against the Hugging Face reference logits of the hf-tiny checkpoints. */
class ScoreCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path tiny(String name) {
        return fixture("hf-tiny", name);
    }

    static Path fixture(String set, String name) {
        String shared = System.getProperty("coolfusion.shared.dir", "../../shared");
        Path dir = Path.of(shared, "fixtures", set, name);
        assumeTrue(Files.isDirectory(dir), "skipped: " + set + " fixture not found at " + dir.toAbsolutePath());
        return dir;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "llama-rope-llama3", "llama-tied", "llama-sharded", "mistral", "qwen2", "phi3"})
    void idsLogProbsMatchTheLogSoftmaxOfTheReferenceLogits(String name) throws Exception {
        assertScoresMatchReference(tiny(name), name);
    }

    /**
     * Today's families (hf-tiny2, transformers-5 configs): Llama with rope_parameters, Phi-3 longrope within and past
     * its original length, GLM, GLM-4, Qwen 3, Gemma 2 and 3, Mistral with a sliding window.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-rope-parameters", "phi3-longrope-short", "phi3-longrope-long", "glm", "glm4", "qwen3",
        "gemma2", "gemma3", "mistral-sliding-window"})
    void todaysFamiliesMatchTheReferenceLogits(String name) throws Exception {
        assertScoresMatchReference(fixture("hf-tiny2", name), name);
    }

    private static void assertScoresMatchReference(Path dir, String name) throws Exception {
        JsonNode ref = JSON.readTree(dir.resolve("reference.json").toFile());
        JsonNode ids = ref.get("input_ids").get(0);
        JsonNode logits = ref.get("logits").get(0);
        List<String> idList = new ArrayList<>();
        ids.forEach(id -> idList.add(id.asText()));
        Cli.Result r = Cli.run("score", "--model", dir.toString(), "--ids",
                String.join(",", idList), "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode doc = JSON.readTree(r.out());
        assertEquals(ids, doc.get("ids"));
        JsonNode logProbs = doc.get("logprobs");
        assertTrue(logProbs.get(0).isNull(), "the first id has no log-probability");
        double nll = 0;
        for (int t = 1; t < ids.size(); t++) {
            JsonNode row = logits.get(t - 1);
            double max = Double.NEGATIVE_INFINITY;
            for (JsonNode v : row) {
                max = Math.max(max, v.asDouble());
            }
            double sum = 0;
            for (JsonNode v : row) {
                sum += Math.exp(v.asDouble() - max);
            }
            double expected = row.get(ids.get(t).asInt()).asDouble() - max - Math.log(sum);
            assertEquals(expected, logProbs.get(t).asDouble(), 1e-4, name + " token " + t);
            nll -= expected;
        }
        assertEquals(nll, doc.get("nll").asDouble(), 1e-3);
        assertEquals(Math.exp(nll / (ids.size() - 1)), doc.get("ppl").asDouble(), 1e-3 * doc.get("ppl").asDouble());
        assertEquals("<s>", doc.get("tokens").get(0).asText());
    }

    @Test
    void textIsScoredAfterItsContext() throws Exception {
        Path dir = tiny("llama");
        JsonNode ref = JSON.readTree(dir.resolve("reference.json").toFile());
        String text = ref.get("input_text").get(0).asText(); // "<s> t112 t59 ..."
        String[] words = text.split(" ");
        String context = String.join(" ", java.util.Arrays.copyOfRange(words, 0, 4));
        String rest = " " + String.join(" ", java.util.Arrays.copyOfRange(words, 4, words.length));
        Cli.Result byText = Cli.run("score", "--model", dir.toString(),
                "--context", context, "--text", rest, "--json");
        assertEquals(0, byText.exitCode(), byText.err());
        JsonNode doc = JSON.readTree(byText.out());
        List<String> allIds = new ArrayList<>();
        ref.get("input_ids").get(0).forEach(id -> allIds.add(id.asText()));
        Cli.Result byIds = Cli.run("score", "--model", dir.toString(), "--ids",
                String.join(",", allIds), "--json");
        JsonNode all = JSON.readTree(byIds.out());
        assertEquals(words.length - 4, doc.get("ids").size());
        for (int i = 0; i < doc.get("ids").size(); i++) {
            assertEquals(all.get("ids").get(4 + i).asInt(), doc.get("ids").get(i).asInt());
            assertEquals(all.get("logprobs").get(4 + i).asDouble(), doc.get("logprobs").get(i).asDouble(), 1e-5);
        }
        Cli.Result human = Cli.run("score", "--model", dir.toString(),
                "--context", context, "--text", rest);
        assertTrue(human.out().contains("nll ") && human.out().contains("ppl "), human.out());
    }

    @Test
    void badInputGetsClearErrors() {
        Cli.Result both = Cli.run("score", "--model", "x", "--ids", "1", "--text", "a");
        assertEquals(2, both.exitCode());
        assertTrue(both.err().contains("mutually exclusive"), both.err());
        Cli.Result missing = Cli.run("score", "--model", "/no/model", "--ids", "1,2");
        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().contains("/no/model"), missing.err());
        // Before: one id printed "ppl NaN".
        Cli.Result one = Cli.run("score", "--model", tiny("llama").toString(), "--ids", "1");
        assertEquals(1, one.exitCode());
        assertTrue(one.err().startsWith("error: --ids needs at least two ids: the first has no log-probability"),
                one.err());
        assertTrue(one.out().isEmpty(), one.out());
        Cli.Result notNumbers = Cli.run("score", "--model", "x", "--ids", "1,a");
        assertEquals(2, notNumbers.exitCode());
        assertTrue(notNumbers.err().contains("'a'"), notNumbers.err());
    }
}
