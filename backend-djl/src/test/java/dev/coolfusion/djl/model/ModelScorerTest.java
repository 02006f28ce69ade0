package dev.coolfusion.djl.model;

import dev.coolfusion.testkit.TinyCheckpoints;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.coolfusion.testkit.TinyCheckpoints.Arch;
import dev.coolfusion.testkit.TinyCheckpoints.Spec;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelScorerTest {
    @TempDir
    Path tmp;

    @Test
    void scoresTokensAndTextLikeNextTokenSteps() {
        Path dir = TinyCheckpoints.write(tmp.resolve("m"), Spec.tiny(Arch.MISTRAL, 31));
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            List<Integer> context = List.of(1, 20, 21, 22);
            StateHandle s = model.open(context);
            List<StateHandle> handles = new ArrayList<>(List.of(s));
            List<Integer> tokens = new ArrayList<>();
            List<Double> expected = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                TokenStep step = model.nextToken(s, Decoding.GREEDY);
                tokens.add(step.token());
                expected.add(step.logProb());
                s = step.state();
                handles.add(s);
            }
            model.release(handles);
            List<Double> scored = ModelScorer.logProbs(model, context, tokens);
            for (int i = 0; i < tokens.size(); i++) {
                assertEquals(expected.get(i), scored.get(i), 1e-4);
            }
            ModelScorer.Scores text = ModelScorer.scoreText(model, "<s> t20 t21 t22",
                    " t" + tokens.get(0) + " t" + tokens.get(1));
            assertEquals(4, text.contextTokens());
            assertEquals(List.of(tokens.get(0), tokens.get(1)), text.tokens().stream().map(ModelScorer.TokenScore::id).toList());
            assertEquals(expected.get(0), text.tokens().get(0).logProb(), 1e-4);
            assertEquals(expected.get(0) + expected.get(1), text.totalLogProb(), 1e-4);
            assertEquals(0, model.liveStates());
            assertThrows(FusionException.class, () -> ModelScorer.logProbs(model, List.of(), tokens));
        }
    }
}
