package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import dev.coolfusion.testkit.TinyCheckpoints;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The prefix cache of {@code open}: a prompt that starts with a kept one prefills only the rest, and every state
 * opened so gives what the same prompt gives without the cache (1e-5 on log-probs), on every architecture, including
 * sliding windows and longrope, where keys computed with the short factors are never reused for a prompt that needs
 * the long ones.
 */
class PrefixCacheTest {
    private static final double TOL = 1e-5;

    @TempDir
    static Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"hf-tiny/llama", "hf-tiny/mistral", "hf-tiny/qwen2", "hf-tiny/phi3", "hf-tiny/llama-tied",
        "hf-tiny2/mistral-sliding-window", "hf-tiny2/phi3-longrope-long", "hf-tiny2/phi3-longrope-short",
        "hf-tiny2/gemma2", "hf-tiny2/gemma3", "hf-tiny2/glm", "hf-tiny2/glm4", "hf-tiny2/qwen3"})
    void reusedPrefixesGiveTheLogProbsOfAFreshPrefill(String fixture) {
        String[] parts = fixture.split("/");
        Path dir = parts[0].equals("hf-tiny") ? Fixtures.hfTiny(parts[1]) : Fixtures.hfTiny2(parts[1]);
        ModelConfig.LongRope longRope = ModelConfig.read(dir).longRope();
        int longAfter = longRope == null ? Integer.MAX_VALUE : longRope.originalMaxPositions();
        try (DjlSourceModel cached = DjlSourceModel.load(dir, DjlModelOptions.defaults());
                DjlSourceModel fresh = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(0).build())) {
            int vocab = cached.vocabularySize().getAsInt();
            Random random = new Random(fixture.hashCode());
            List<Integer> base = new ArrayList<>(List.of(1));
            while (base.size() < 30) {
                base.add(3 + random.nextInt(vocab - 3));
            }
            List<Integer> diverging = new ArrayList<>(base.subList(0, 14));
            while (diverging.size() < 20) {
                diverging.add(3 + random.nextInt(vocab - 3));
            }
            // Last: prompts shorter than the least reused prefix (8) that start kept ones, then one of them again.
            List<List<Integer>> prompts = List.of(base.subList(0, 10), base, base, base.subList(0, 20), diverging,
                    base.subList(0, 12), base.subList(0, 1), base.subList(0, 5), base.subList(0, 5), base.subList(0, 9));
            // Which opens reuse a kept prompt: not the first; with longrope (16 here) not the 30 tokens after the
            // 10, whose keys have the short factors.
            boolean crosses = 10 <= longAfter && 30 > longAfter;
            List<Boolean> expectHit = List.of(false, !crosses, true, true, true, true, false, false, true, true);
            List<StateHandle> handles = new ArrayList<>();
            List<StateHandle> freshHandles = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                List<Integer> prompt = prompts.get(i);
                String what = fixture + " prompt " + i + " (" + prompt.size() + " tokens)";
                DjlSourceModel.PrefixCacheStats before = cached.prefixCacheStats();
                StateHandle a = cached.open(prompt);
                StateHandle b = fresh.open(prompt);
                handles.add(a);
                freshHandles.add(b);
                DjlSourceModel.PrefixCacheStats after = cached.prefixCacheStats();
                assertEquals(expectHit.get(i) ? 1 : 0, after.hits() - before.hits(), what + ": hit");
                assertEquals(expectHit.get(i) ? 0 : 1, after.misses() - before.misses(), what + ": miss");
                assertMaxDiff(fresh.nextLogProbs(b), cached.nextLogProbs(a), what + " after the prompt");
                // What follows is the same too: a decode step, a sampled one, and scoring.
                TokenStep sa = cached.nextToken(a, Decoding.GREEDY);
                TokenStep sb = fresh.nextToken(b, Decoding.GREEDY);
                assertEquals(sb.token(), sa.token(), what);
                assertMaxDiff(fresh.nextLogProbs(sb.state()), cached.nextLogProbs(sa.state()), what + " after a step");
                List<List<Integer>> candidates = List.of(List.of(5, 6, 7), List.of(sb.token()));
                List<ScoredTokens> ca = cached.score(a, candidates);
                List<ScoredTokens> cb = fresh.score(b, candidates);
                for (int c = 0; c < candidates.size(); c++) {
                    for (int t = 0; t < candidates.get(c).size(); t++) {
                        assertEquals(cb.get(c).logProbs().get(t), ca.get(c).logProbs().get(t), TOL, what + " scored");
                    }
                    handles.add(ca.get(c).state());
                    freshHandles.add(cb.get(c).state());
                }
                handles.add(sa.state());
                freshHandles.add(sb.state());
            }
            DjlSourceModel.PrefixCacheStats stats = cached.prefixCacheStats();
            assertTrue(stats.reusedTokens() > 0 && stats.entries() > 0 && stats.bytes() <= stats.capBytes(), stats.toString());
            assertEquals(0, fresh.prefixCacheStats().hits() + fresh.prefixCacheStats().misses());
            cached.release(handles);
            fresh.release(freshHandles);
            assertEquals(0, cached.liveStates(), "kept prompts are no state handles");
            assertEquals(0, cached.cacheStats().segments());
            assertTrue(cached.cacheStats().stores() <= stats.entries(), cached.cacheStats() + " vs " + stats);
            assertEquals(new DjlSourceModel.CacheStats(0, 0, fresh.cacheStats().prefixCopies(), 0), fresh.cacheStats());
        }
    }

    @Test
    void theLeastRecentlyUsedPromptsGoBeyondTheCapAndCloseFreesTheRest() {
        Path dir = TinyCheckpoints.write(tmp.resolve("small"), TinyCheckpoints.Spec.llamaSmall());
        // 4 layers x 2 key/value heads x 32 dims x keys and values x 4 bytes: 2 KiB a token, 512 tokens in 1 MiB.
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().prefixCacheMb(1).build())) {
            int baseline = model.managedArrays();
            Random random = new Random(3);
            List<List<Integer>> prompts = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                List<Integer> p = new ArrayList<>(List.of(1, 100 + i)); // they differ from their second token on
                while (p.size() < 200) {
                    p.add(3 + random.nextInt(2000));
                }
                prompts.add(p);
            }
            for (List<Integer> p : prompts) {
                model.release(List.of(model.open(p)));
            }
            DjlSourceModel.PrefixCacheStats stats = model.prefixCacheStats();
            assertEquals(new DjlSourceModel.PrefixCacheStats(2, 400, 400 * 2048, 1024 * 1024, 0, 3, 0), stats);
            assertEquals(2, model.cacheStats().stores(), "the evicted prompt's store is freed");
            model.release(List.of(model.open(prompts.get(2)))); // kept: a hit
            model.release(List.of(model.open(prompts.get(0)))); // evicted: a miss, kept again, evicting prompt 1
            assertEquals(1, model.prefixCacheStats().hits());
            assertEquals(4, model.prefixCacheStats().misses());
            List<Integer> huge = new ArrayList<>(prompts.get(0).subList(0, 1));
            while (huge.size() < 600) {
                huge.add(3 + random.nextInt(2000)); // 1.2 MiB: never kept
            }
            model.release(List.of(model.open(huge)));
            assertEquals(2, model.prefixCacheStats().entries());
            assertEquals(400, model.prefixCacheStats().tokens());
            assertEquals(0, model.liveStates());
            assertTrue(model.managedArrays() > baseline, "the kept prompts hold arrays");
        }
    }

    @Test
    void badCapsAreRefusedNamingTheOption() {
        String message = assertThrows(FusionException.class, () -> DjlModelOptions.builder().prefixCacheMb(-1))
                .getMessage();
        assertTrue(message.startsWith("prefix-cache-mb must be >= 0") && message.endsWith("got -1"), message);
        DjlSourceModelProvider provider = new DjlSourceModelProvider();
        for (String bad : List.of("lots", "1.5", "-2")) {
            String m = assertThrows(FusionException.class, () -> provider.create(ProviderConfig.of("djl",
                    Map.of("path", "/no/such/model", "prefix-cache-mb", bad)))).getMessage();
            assertTrue(m.startsWith("provider 'djl'") && m.contains("prefix-cache-mb") && m.contains(bad), m);
        }
    }

    private static void assertMaxDiff(float[] want, float[] got, String what) {
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(want[i] - got[i]));
        }
        assertTrue(worst <= TOL, what + ": max log-prob diff " + worst);
    }
}
