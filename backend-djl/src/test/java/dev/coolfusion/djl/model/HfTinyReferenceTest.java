package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Compares the forward pass with Hugging Face transformers' logits in {@code shared/fixtures/hf-tiny} (their
 * log-softmax, 1e-4 absolute, float32): forwards without a cache at every position, the cached path (prefix of 8, then
 * 4 single-token steps) and the batched scoring path (one forward over all positions, and from the prefix).
 */
class HfTinyReferenceTest {
    private static final double TOLERANCE = 1e-4;
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"llama", "llama-rope-llama3", "llama-tied", "llama-sharded", "mistral", "qwen2", "phi3"})
    void matchesReference(String folder) throws IOException {
        Path dir = Fixtures.hfTiny(folder);
        JsonNode ref = JSON.readTree(dir.resolve("reference.json").toFile());
        int prefix = ref.get("prefix_len").asInt();
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            int vocab = model.vocabularySize();
            for (int seq = 0; seq < ref.get("input_ids").size(); seq++) {
                List<Integer> ids = new ArrayList<>();
                ref.get("input_ids").get(seq).forEach(n -> ids.add(n.asInt()));
                JsonNode expected = ref.get("logits").get(seq);

                // 1. Forwards without a cache, all positions (each a prefill of the prefix ending there).
                float[] uncached = UncachedForwards.logProbs(model, ids);
                for (int t = 0; t < ids.size(); t++) {
                    assertLogProbs(expected.get(t), Arrays.copyOfRange(uncached, t * vocab, (t + 1) * vocab),
                            folder + " seq " + seq + " uncached forward pos " + t);
                }
                // ... and one forward over all positions: scoring the whole sequence after its first token.
                StateHandle first = model.open(ids.subList(0, 1));
                ScoredTokens whole = model.score(first, List.of(ids.subList(1, ids.size()))).get(0);
                for (int t = 1; t < ids.size(); t++) {
                    double want = logSoftmax(expected.get(t - 1))[ids.get(t)];
                    assertEquals(want, whole.logProbs().get(t - 1), TOLERANCE, folder + " seq " + seq + " one forward pos " + t);
                }
                assertLogProbs(expected.get(ids.size() - 1), model.logProbs(whole.state()), folder + " one forward last");
                model.release(List.of(first, whole.state()));

                // 2. Cached: prefix, then single-token steps; log-probs compared with the reference's log-softmax.
                StateHandle state = model.open(ids.subList(0, prefix));
                assertLogProbs(expected.get(prefix - 1), model.logProbs(state), folder + " prefix pos " + (prefix - 1));
                List<StateHandle> handles = new ArrayList<>(List.of(state));
                for (int t = prefix; t < ids.size(); t++) {
                    state = model.append(state, ids.get(t));
                    handles.add(state);
                    assertLogProbs(expected.get(t), model.logProbs(state), folder + " cached step pos " + t);
                }
                assertLogProbs(ref.get("logits_last_after_prefix").get(seq), model.logProbs(state),
                        folder + " logits_last_after_prefix");

                // 3. Scoring the rest from the prefix state, batched with a shorter decoy candidate.
                List<Integer> rest = ids.subList(prefix, ids.size());
                List<ScoredTokens> scored = model.score(handles.get(0), List.of(rest.subList(0, 2), rest));
                List<Double> lps = scored.get(1).logProbs();
                for (int i = 0; i < rest.size(); i++) {
                    double want = logSoftmax(expected.get(prefix - 1 + i))[rest.get(i)];
                    assertEquals(want, lps.get(i), TOLERANCE, folder + " scored token " + i);
                }
                assertLogProbs(expected.get(ids.size() - 1), model.logProbs(scored.get(1).state()), folder + " scored state");
                scored.forEach(s -> handles.add(s.state()));
                model.release(handles);
            }
            assertEquals(0, model.liveStates());
            assertEquals(new DjlSourceModel.CacheStats(0, 0, model.cacheStats().prefixCopies()), model.cacheStats());
        }
    }

    private static void assertLogProbs(JsonNode expectedLogits, float[] actual, String what) {
        double[] want = logSoftmax(expectedLogits);
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(want[i] - actual[i]));
        }
        assertTrue(worst <= TOLERANCE, what + ": max abs diff of log-probs " + worst);
    }

    static double[] logSoftmax(JsonNode logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (JsonNode n : logits) {
            max = Math.max(max, n.asDouble());
        }
        double sum = 0;
        for (JsonNode n : logits) {
            sum += Math.exp(n.asDouble() - max);
        }
        double lse = max + Math.log(sum);
        double[] out = new double[logits.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = logits.get(i).asDouble() - lse;
        }
        return out;
    }
}
