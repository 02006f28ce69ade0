package dev.coolfusion.djl.model;

import dev.coolfusion.testkit.TinyCheckpoints;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import dev.coolfusion.testkit.TinyCheckpoints.Spec;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * float16 runs the same paths and stays close to float32 (within half-precision rounding); bfloat16 is refused
 * because DJL 0.36's PyTorch engine aborts the JVM on bfloat16 tensors.
 */
class DtypeOptionTest {
    @TempDir
    static Path tmp;

    @Test
    void bfloat16IsRefusedWithAReason() {
        Path dir = tmp.resolve("bf");
        TinyCheckpoints.write(dir, Spec.tiny(Arch.LLAMA, 22));
        String message = assertThrows(FusionException.class,
                () -> DjlSourceModel.load(dir, DjlModelOptions.builder().dtype("bfloat16").build())).getMessage();
        assertTrue(message.contains("bfloat16") && message.contains("float16") && message.contains("float32"), message);
    }

    @ParameterizedTest
    @EnumSource(value = ModelDtype.class, names = {"FLOAT32", "FLOAT16"})
    void halfPrecisionTracksFloat32(ModelDtype dtype) {
        Path dir = tmp.resolve("m");
        if (!dir.resolve("config.json").toFile().exists()) {
            TinyCheckpoints.write(dir, Spec.tiny(Arch.QWEN2, 21));
        }
        List<Integer> prompt = List.of(1, 40, 41, 42, 43, 44);
        try (DjlSourceModel ref = DjlSourceModel.load(dir, DjlModelOptions.defaults());
                DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.builder().dtype(dtype).build())) {
            StateHandle a = ref.open(prompt);
            StateHandle b = model.open(prompt);
            float[] pa = ref.nextLogProbs(a);
            float[] pb = model.nextLogProbs(b);
            double worst = 0;
            for (int i = 0; i < pa.length; i++) {
                worst = Math.max(worst, Math.abs(pa[i] - pb[i]));
            }
            double tolerance = dtype == ModelDtype.FLOAT32 ? 1e-6 : 5e-3;
            assertTrue(worst <= tolerance, dtype + ": max log-prob diff " + worst);
            TokenStep step = model.nextToken(b, Decoding.GREEDY);
            List<ScoredTokens> scored = model.score(b, List.of(List.of(step.token(), 7), List.of(9)));
            assertEquals(step.logProb(), scored.get(0).logProbs().get(0), 1e-6);
            assertEquals(2, scored.get(0).logProbs().size());
        }
    }
}
