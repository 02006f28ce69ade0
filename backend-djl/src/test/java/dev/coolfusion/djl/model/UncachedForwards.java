package dev.coolfusion.djl.model;

import dev.coolfusion.spi.StateHandle;
import java.util.List;

/**
 * The reference the cached paths are compared with: every position's next-token log-probabilities of a sequence, each
 * from a forward without a prior cache (the prefill that {@code open} runs on the prefix ending there).
 */
final class UncachedForwards {
    private UncachedForwards() {}

    /** Flat {@code [positions x vocab]}: entries {@code [t * vocab, (t + 1) * vocab)} follow token {@code t}. */
    static float[] logProbs(DjlSourceModel model, List<Integer> ids) {
        int vocab = model.vocabularySize().getAsInt();
        float[] out = new float[ids.size() * vocab];
        for (int t = 0; t < ids.size(); t++) {
            StateHandle s = model.open(ids.subList(0, t + 1));
            try {
                System.arraycopy(model.nextLogProbs(s), 0, out, t * vocab, vocab);
            } finally {
                model.release(List.of(s));
            }
        }
        return out;
    }
}
