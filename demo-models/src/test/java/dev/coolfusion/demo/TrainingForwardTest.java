package dev.coolfusion.demo;

import dev.coolfusion.testkit.BundledModels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.demo.train.LlamaTrainer;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training forward and the inference backend (DjlSourceModel) agree on the checkpoint the trainer writes. */
class TrainingForwardTest {

    @Test
    void savedCheckpointScoresLikeTheTrainingForward(@TempDir Path dir) throws Exception {
        Path tok = BundledModels.dir().resolve("b");
        Files.copy(tok.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.copy(tok.resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
        int vocab = DemoModels.vocabSize(tok);
        String text = "Question: Tom has 3 boxes with 12 apples in each. How many apples does he have?\nAnswer: 3 * 12 = 36.";
        List<Integer> ids;
        try (HfTextCodec codec = HfTextCodec.load(dir)) {
            ids = codec.encodePrompt(text);
        }
        long[][] row = {ids.stream().mapToLong(Integer::longValue).toArray()};
        float[][] expected;
        try (LlamaTrainer trainer = new LlamaTrainer(new LlamaTrainer.Shape0(vocab, 64, 160, 2, 4, 128), 42)) {
            // a few real training steps first, so the weights are not just the initialisation
            List<int[]> data = new ArrayList<>();
            int[] r = ids.stream().mapToInt(Integer::intValue).toArray();
            data.add(java.util.Arrays.copyOf(r, 33));
            float[] losses = new float[5];
            trainer.train(data, new LlamaTrainer.Schedule(5, 2, 32, 1e-2, 1e-3, 1, 0.0, 1.0), 1,
                    (step, loss, lr) -> losses[step] = loss);
            assertTrue(losses[4] < losses[0], "loss did not fall: " + java.util.Arrays.toString(losses));
            expected = trainer.tokenLogProbs(row);
            trainer.save(dir, 1, 2);
        }
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            StateHandle bos = model.open(ids.subList(0, 1));
            List<ScoredTokens> scored = model.score(bos, List.of(ids.subList(1, ids.size())));
            List<Double> got = scored.get(0).logProbs();
            assertEquals(expected[0].length, got.size());
            for (int i = 0; i < got.size(); i++) {
                assertEquals(expected[0][i], got.get(i), 1e-4, "token " + i);
            }
            model.release(List.of(bos, scored.get(0).state()));
        }
    }
}
