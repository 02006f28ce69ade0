package dev.coolfusion.djl.model;

import dev.coolfusion.testkit.TinyCheckpoints;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import dev.coolfusion.testkit.TinyCheckpoints.Spec;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs 220 steps in the pattern of the fusion core and checks with DJL's NDManager accounting that nothing grows:
 * per step several chained next-token calls, one batched score of 3 candidates, commit one temporary state, release
 * the old committed state and every other temporary state.
 */
class MemoryFlatTest {
    @TempDir
    Path tmp;

    /** What the model's public monitoring reports after one step. */
    private record Reading(int states, DjlSourceModel.CacheStats cache, int managedArrays) {}

    @Test
    void nativeMemoryStaysFlatOverLongGeneration() {
        Path dir = TinyCheckpoints.write(tmp.resolve("m"), Spec.tiny(Arch.LLAMA, 11).withConfig("max_position_embeddings", "4096"));
        SplittableRandom random = new SplittableRandom(3);
        try (DjlSourceModel model = DjlSourceModel.load(dir,
                DjlModelOptions.builder().maxContext(4096).prefixCacheMb(0).build())) {
            int baseline = model.managedArrays();
            StateHandle committed = model.open(List.of(1, 10, 11, 12, 13));
            List<Reading> perStep = new ArrayList<>();
            int steps = 220;
            for (int step = 0; step < steps; step++) {
                List<StateHandle> temps = new ArrayList<>();
                StateHandle s = committed;
                List<Integer> proposal = new ArrayList<>();
                int chain = 2 + random.nextInt(3);
                for (int i = 0; i < chain; i++) {
                    TokenStep t = model.nextToken(s, new Decoding(0.8, 0.95, random.nextDouble()));
                    temps.add(t.state());
                    proposal.add(t.token());
                    s = t.state();
                }
                List<List<Integer>> candidates = List.of(
                        proposal.subList(0, 2),
                        List.of(3 + random.nextInt(500), 3 + random.nextInt(500), 3 + random.nextInt(500)),
                        List.of(3 + random.nextInt(500)));
                List<ScoredTokens> scored = model.score(committed, candidates);
                scored.forEach(r -> temps.add(r.state()));
                StateHandle winner;
                int choice = step % 3;
                if (choice == 0) {
                    winner = temps.get(chain - 1); // the proposer keeps its own tokens
                } else {
                    winner = scored.get(choice).state();
                }
                model.commit(winner);
                temps.remove(winner);
                temps.add(committed);
                model.release(temps);
                committed = winner;
                perStep.add(new Reading(model.liveStates(), model.cacheStats(), model.managedArrays()));
            }
            Reading first = perStep.get(9);
            for (int i = 10; i < steps; i++) {
                Reading u = perStep.get(i);
                assertEquals(1, u.states(), "step " + i + ": only the committed state is live");
                assertTrue(u.cache().stores() <= 1 && u.cache().segments() <= 1, "step " + i + ": " + u);
                assertTrue(u.managedArrays() <= first.managedArrays() + 2,
                        "managed arrays grew from " + first + " to " + u + " at step " + i);
            }
            // The cache is appended in place; prefixes are copied only when the capacity grows (context ~900 tokens).
            long copies = model.cacheStats().prefixCopies();
            assertTrue(copies <= 12, "store copies: " + copies);
            model.release(List.of(committed));
            assertEquals(new DjlSourceModel.CacheStats(0, 0, copies, 0), model.cacheStats(), "no store or segment left");
            assertEquals(baseline, model.managedArrays(), "all state arrays freed after the last release");
        }
    }
}
