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

    /**
     * {@code --top k}: at every scored position the k most likely tokens of the reference's log-softmax, in order, with
     * their log-probabilities; the scored token's own log-probability is at most the first one's. On a sliding-window
     * and a longrope checkpoint (whose whole sequence uses the long factors) too.
     */
    @ParameterizedTest
    @ValueSource(strings = {"hf-tiny/mistral", "hf-tiny2/mistral-sliding-window", "hf-tiny2/phi3-longrope-long",
        "hf-tiny2/gemma2"})
    void topAlternativesAreTheReferencesMostLikelyTokens(String name) throws Exception {
        String[] parts = name.split("/");
        Path dir = fixture(parts[0], parts[1]);
        JsonNode ref = JSON.readTree(dir.resolve("reference.json").toFile());
        JsonNode ids = ref.get("input_ids").get(0);
        List<String> idList = new ArrayList<>();
        ids.forEach(id -> idList.add(id.asText()));
        Cli.Result r = Cli.run("score", "--model", dir.toString(), "--ids", String.join(",", idList), "--json",
                "--top", "3");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode doc = JSON.readTree(r.out());
        JsonNode top = doc.get("top");
        assertTrue(top.get(0).isNull(), "the first id has no alternatives");
        for (int t = 1; t < ids.size(); t++) {
            double[] want = logSoftmax(ref.get("logits").get(0).get(t - 1));
            Integer[] order = new Integer[want.length];
            for (int v = 0; v < order.length; v++) {
                order[v] = v;
            }
            java.util.Arrays.sort(order, (a, b) -> Double.compare(want[b], want[a]));
            assertEquals(3, top.get(t).size());
            for (int k = 0; k < 3; k++) {
                JsonNode alt = top.get(t).get(k);
                assertEquals(want[alt.get("id").asInt()], alt.get("logprob").asDouble(), 1e-4, name + " pos " + t);
                assertEquals(want[order[k]], alt.get("logprob").asDouble(), 1e-4, name + " pos " + t + " rank " + k);
            }
            assertTrue(doc.get("logprobs").get(t).asDouble() <= top.get(t).get(0).get("logprob").asDouble() + 1e-6);
        }
        Cli.Result human = Cli.run("score", "--model", dir.toString(), "--ids", String.join(",", idList), "--top", "2");
        assertEquals(0, human.exitCode(), human.err());
        assertEquals(ids.size() - 1, human.out().lines().filter(l -> l.contains("   top: ")).count(), human.out());
    }

    private static double[] logSoftmax(JsonNode logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (JsonNode v : logits) {
            max = Math.max(max, v.asDouble());
        }
        double sum = 0;
        for (JsonNode v : logits) {
            sum += Math.exp(v.asDouble() - max);
        }
        double[] out = new double[logits.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = logits.get(i).asDouble() - max - Math.log(sum);
        }
        return out;
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
        Cli.Result negative = Cli.run("score", "--model", tiny("llama").toString(), "--ids", "1,2", "--top", "-1");
        assertEquals(1, negative.exitCode());
        assertTrue(negative.err().contains("--top must be at least 0, got -1"), negative.err());
        Cli.Result notNumbers = Cli.run("score", "--model", "x", "--ids", "1,a");
        assertEquals(2, notNumbers.exitCode());
        assertTrue(notNumbers.err().contains("'a'"), notNumbers.err());
    }
}
