package dev.coolfusion.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CandidateTrace;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FinishReason;
import dev.coolfusion.core.FusionExecutors;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.hf.SharedFixtures;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.testkit.TinyCheckpoints;
import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end through the core loop with today's families: a Qwen3-shaped checkpoint (per-head q/k norms) with the real
 * Qwen 3 tokenizer and a Gemma3-shaped one (sliding window 8 on alternate layers, local and global rope bases, four
 * norms a layer, GELU) with the real Llama 3 tokenizer, fused on real KV caches. The weights are random: this checks
 * structure (every candidate scored in each model's own tokenization, the text is the winners), that parallel and
 * sequential runs agree, and that every state is released; not content.
 */
class FusedTodaysFamiliesTest {
    @TempDir
    static Path dir;
    static DjlSourceModel qwen3;
    static DjlSourceModel gemma3;

    static DjlSourceModel model(String name, String tokenizerFamily, Arch arch, int vocab, long seed) throws IOException {
        Path tokenizer = SharedFixtures.tokenizer(tokenizerFamily);
        Path folder = dir.resolve(name);
        TinyCheckpoints.write(folder, new TinyCheckpoints.Spec(arch, 32, 64, 2, 4, 2, vocab, 512, true, false, false,
                true, TinyCheckpoints.WeightType.F32, seed, Map.of(), Set.of()));
        Files.copy(tokenizer.resolve("tokenizer.json"), folder.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(tokenizer.resolve("tokenizer_config.json"), folder.resolve("tokenizer_config.json"),
                StandardCopyOption.REPLACE_EXISTING);
        return DjlSourceModel.load(folder, DjlModelOptions.builder().name(name).build());
    }

    @BeforeAll
    static void load() throws IOException {
        qwen3 = model("qwen3", "qwen3", Arch.QWEN3, 151936, 31);
        gemma3 = model("gemma3", "llama3", Arch.GEMMA3, 128256, 32);
    }

    @AfterAll
    static void close() {
        if (qwen3 != null) {
            qwen3.close();
        }
        if (gemma3 != null) {
            gemma3.close();
        }
    }

    private static Generation fuse(Executor executor) {
        CoolFusion fusion = CoolFusion.builder().addSource(qwen3).addSource(gemma3).executor(executor).build();
        return fusion.generate("Question: what is the capital of France? Think step by step.\nAnswer:",
                FusionOptions.builder().maxNewTokens(24).maxSegmentTokens(6).build());
    }

    private static void assertAllReleased() {
        for (DjlSourceModel m : new DjlSourceModel[] {qwen3, gemma3}) {
            assertEquals(0, m.liveStates(), m.name());
            // No segment left; the stores left are those the prefix cache keeps (one per kept prompt at most).
            assertEquals(0, m.cacheStats().segments(), m.name());
            assertTrue(m.cacheStats().stores() <= m.prefixCacheStats().entries(), m.name() + ": " + m.cacheStats());
        }
    }

    @Test
    void fusesQwen3AndGemma3ShapedModelsAndReleasesEveryState() {
        Generation g = fuse(FusionExecutors.shared());
        assertFalse(g.steps().isEmpty());
        assertTrue(g.finish() == FinishReason.LENGTH || g.finish() == FinishReason.END_OF_SEQUENCE, g.finish().toString());
        assertEquals(g.text(), g.steps().stream().map(StepTrace::emitted).collect(Collectors.joining()));
        assertAllReleased();
        for (StepTrace step : g.steps()) {
            for (CandidateTrace c : step.candidates()) {
                for (ModelLogProbs m : c.logProbs()) {
                    TextCodec codec = m.model().equals("qwen3") ? qwen3.codec() : gemma3.codec();
                    int expected = codec.encodeContinuation(c.text()).ids().size() + (c.endOfSequence() ? 1 : 0);
                    assertEquals(expected, m.logProbs().size(), m.model() + " on [" + c.text() + "]");
                    assertTrue(m.logProbs().stream().allMatch(lp -> lp <= 0 && Double.isFinite(lp)));
                }
            }
        }
        assertEquals(g.text(), g.steps().stream().map(st -> st.winningCandidate().text()).collect(Collectors.joining())
                .substring(0, g.text().length()), "the text is the winners, in order");
    }

    @Test
    void parallelEqualsSequential() {
        Generation parallel = fuse(FusionExecutors.shared());
        Generation sequential = fuse(Runnable::run);
        assertEquals(sequential.text(), parallel.text());
        assertEquals(sequential.steps().size(), parallel.steps().size());
        for (int i = 0; i < parallel.steps().size(); i++) {
            assertEquals(sequential.steps().get(i).winner(), parallel.steps().get(i).winner());
            assertEquals(sequential.steps().get(i).candidates().stream().map(CandidateTrace::text).toList(),
                    parallel.steps().get(i).candidates().stream().map(CandidateTrace::text).toList());
        }
        assertAllReleased();
    }
}
