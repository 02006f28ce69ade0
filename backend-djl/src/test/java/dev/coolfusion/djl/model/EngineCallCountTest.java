package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.testkit.TinyCheckpoints;
import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import dev.coolfusion.testkit.TinyCheckpoints.Spec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine work of each kind of forward, counted as the engine arrays it creates (in-place operations aside), does not
 * grow for the architectures supported before sliding windows, longrope, GLM, Qwen 3 and Gemma were added: the numbers
 * below were measured on the code before that change.
 */
class EngineCallCountTest {
    @TempDir
    static Path tmp;

    /**
     * prefill of 8, decode in place, decode beside the store, batched score of 3, tempered NLL of 4 tokens. Since the
     * stores hold keys and values heads first, a forward in place makes two more views (the new keys and values
     * transposed into the store's layout) and one beside the store two fewer (the cached ones need no transpose); the
     * copies that multiplying by transposed keys and values made are not arrays and not counted.
     */
    private static final Map<String, List<Integer>> BASELINE = Map.of(
            "LLAMA-1", List.of(69, 59, 71, 85, 90),
            "LLAMA-2", List.of(69, 59, 71, 85, 90),
            "LLAMA-3", List.of(71, 61, 73, 87, 92),
            "MISTRAL-4", List.of(69, 59, 71, 85, 90),
            "QWEN2-5", List.of(69, 59, 71, 85, 90),
            "PHI3-6", List.of(69, 59, 71, 85, 90));

    static Stream<Spec> specs() {
        return Stream.of(Spec.tiny(Arch.LLAMA, 1), Spec.tiny(Arch.LLAMA, 2).withLlama3Rope(true),
                Spec.tiny(Arch.LLAMA, 3).withTied(true), Spec.tiny(Arch.MISTRAL, 4), Spec.tiny(Arch.QWEN2, 5),
                Spec.tiny(Arch.PHI3, 6));
    }

    @ParameterizedTest
    @MethodSource("specs")
    void forwardsCreateNoMoreArraysThanBefore(Spec spec) {
        String key = spec.arch() + "-" + spec.seed();
        Path dir = TinyCheckpoints.write(tmp.resolve(key), spec);
        List<Integer> counts = new ArrayList<>();
        List<Long> tokens = new ArrayList<>();
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            model.countEngineArrays(true);
            Work work = new Work(model);
            StateHandle s = model.open(List.of(1, 5, 6, 7, 8, 9, 10, 11));
            work.step(counts, tokens);
            StateHandle a = model.nextToken(s, Decoding.GREEDY).state();
            work.step(counts, tokens);
            StateHandle b = model.nextToken(s, Decoding.GREEDY).state();
            work.step(counts, tokens);
            var scored = model.score(s, List.of(List.of(3), List.of(4, 5), List.of(6, 7, 8)));
            work.step(counts, tokens);
            model.nllAtTemperatures(s, List.of(3, 4, 5, 6), new double[] {0.5, 1.0});
            work.step(counts, tokens);
            List<StateHandle> all = new ArrayList<>(List.of(s, a, b));
            scored.forEach(x -> all.add(x.state()));
            model.release(all);
            assertEquals(work.last, model.forwardStats(), "releasing runs no forward");
            // Counting is off unless asked for: forwards and tokens are still counted, engine arrays not.
            model.countEngineArrays(false);
            StateHandle again = model.open(List.of(1, 5, 6));
            DjlSourceModel.ForwardStats uncounted = model.forwardStats().minus(work.last);
            model.release(List.of(again));
            assertEquals(0, uncounted.engineArrays(), "no engine arrays counted while counting is off");
            assertEquals(1, uncounted.forwards());
        }
        assertEquals(List.of(8L, 1L, 1L, 9L, 4L), tokens, key + ": positions of each forward (3 x 3 padded)");
        assertEquals(BASELINE.get(key), counts, key + ": engine arrays of prefill, decode in place, decode beside,"
                + " batched score, tempered NLL");
    }

    /** The model's forward statistics between calls: each call must have run exactly one forward. */
    private static final class Work {
        private final DjlSourceModel model;
        private DjlSourceModel.ForwardStats last;

        Work(DjlSourceModel model) {
            this.model = model;
            this.last = model.forwardStats();
        }

        void step(List<Integer> arrays, List<Long> tokens) {
            DjlSourceModel.ForwardStats now = model.forwardStats();
            DjlSourceModel.ForwardStats delta = now.minus(last);
            assertEquals(1, delta.forwards(), "one forward per call");
            arrays.add((int) delta.engineArrays());
            tokens.add(delta.tokens());
            last = now;
        }
    }
}
