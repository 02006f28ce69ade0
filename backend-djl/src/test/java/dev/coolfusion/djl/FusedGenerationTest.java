package dev.coolfusion.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CandidateTrace;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FinishReason;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.hf.SharedFixtures;
import dev.coolfusion.testkit.TinyCheckpoints;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.TextCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end through the core loop: two random-weight DJL models that use different real tokenizers (Llama 2's
 * SentencePiece and Qwen 3's byte-level BPE), fused on a real KV cache.
 */
class FusedGenerationTest {
    @TempDir
    static Path dir;
    static DjlSourceModel llama2;
    static DjlSourceModel qwen3;

    static DjlSourceModel model(String family, TinyCheckpoints.Arch arch, int vocab, long seed) throws IOException {
        Path tokenizer = SharedFixtures.tokenizer(family);
        Path folder = dir.resolve(family);
        TinyCheckpoints.write(folder, new TinyCheckpoints.Spec(arch, 32, 64, 2, 4, 2, vocab, 512, true, false, false,
                false, TinyCheckpoints.WeightType.F32, seed, Map.of(), java.util.Set.of()));
        Files.copy(tokenizer.resolve("tokenizer.json"), folder.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(tokenizer.resolve("tokenizer_config.json"), folder.resolve("tokenizer_config.json"),
                StandardCopyOption.REPLACE_EXISTING);
        return DjlSourceModel.load(folder, DjlModelOptions.builder().name(family).build());
    }

    @BeforeAll
    static void load() throws IOException {
        llama2 = model("llama2", TinyCheckpoints.Arch.LLAMA, 32000, 11);
        qwen3 = model("qwen3", TinyCheckpoints.Arch.QWEN2, 151936, 12);
    }

    @AfterAll
    static void close() {
        if (llama2 != null) {
            llama2.close();
        }
        if (qwen3 != null) {
            qwen3.close();
        }
    }

    private static Generation fuse(java.util.concurrent.Executor executor) {
        CoolFusion fusion = CoolFusion.builder().addSource(llama2).addSource(qwen3).executor(executor).build();
        return fusion.generate("Question: what is 2 + 3?\nAnswer:", FusionOptions.builder().maxNewTokens(24)
                .maxSegmentTokens(6).build());
    }

    @Test
    void fusesTwoModelsWithDifferentTokenizersAndReleasesEveryState() {
        Generation g = fuse(dev.coolfusion.core.FusionExecutors.shared());
        assertFalse(g.steps().isEmpty());
        assertTrue(g.finish() == FinishReason.LENGTH || g.finish() == FinishReason.END_OF_SEQUENCE, g.finish().toString());
        assertEquals(g.text(), g.steps().stream().map(StepTrace::emitted).collect(Collectors.joining()));
        assertEquals(0, llama2.liveStates());
        assertEquals(0, qwen3.liveStates());
        for (StepTrace step : g.steps()) {
            for (CandidateTrace c : step.candidates()) {
                // Each model scored each candidate in its own tokenization (plus its EOS for ending candidates).
                for (ModelLogProbs m : c.logProbs()) {
                    TextCodec codec = m.model().equals("llama2") ? llama2.codec() : qwen3.codec();
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
    void parallelEqualsSequentialOnRealModels() {
        Generation parallel = fuse(dev.coolfusion.core.FusionExecutors.shared());
        Generation sequential = fuse(Runnable::run);
        assertEquals(sequential.text(), parallel.text());
        assertEquals(sequential.steps().size(), parallel.steps().size());
        for (int i = 0; i < parallel.steps().size(); i++) {
            assertEquals(sequential.steps().get(i).winner(), parallel.steps().get(i).winner());
            assertEquals(sequential.steps().get(i).candidates().stream().map(CandidateTrace::text).toList(),
                    parallel.steps().get(i).candidates().stream().map(CandidateTrace::text).toList());
        }
    }
}
