package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TokenStep;

/** Test steps through the public API: a given token as a {@code nextToken} step, flat log-prob tables. */
final class StateSteps {
    private StateSteps() {}

    /**
     * The state after {@code token}, through {@link DjlSourceModel#nextToken} (the decode path): sampling at
     * temperature 1 draws tokens by inverse CDF in id order, so the uniform draw in the middle of {@code token}'s
     * interval picks it. Fails if the model picked another token.
     */
    static StateHandle append(DjlSourceModel model, StateHandle state, int token) {
        float[] lp = model.nextLogProbs(state);
        double max = Double.NEGATIVE_INFINITY;
        for (float v : lp) {
            max = Math.max(max, v);
        }
        double total = 0;
        double before = 0;
        double own = 0;
        for (int i = 0; i < lp.length; i++) {
            double w = Math.exp(lp[i] - max);
            if (i < token) {
                before += w;
            } else if (i == token) {
                own = w;
            }
            total += w;
        }
        double uniform = (before + own / 2) / total;
        TokenStep step = model.nextToken(state, new Decoding(1.0, 1.0, uniform));
        assertEquals(token, step.token(), "the draw in the middle of token " + token + "'s interval picks it");
        assertEquals(lp[token], step.logProb(), 0.0);
        return step.state();
    }

    /** {@code [positions][vocab]} as one flat array: entries {@code [t * vocab, (t + 1) * vocab)} follow token t. */
    static float[] flat(float[][] rows) {
        int vocab = rows[0].length;
        float[] out = new float[rows.length * vocab];
        for (int t = 0; t < rows.length; t++) {
            System.arraycopy(rows[t], 0, out, t * vocab, vocab);
        }
        return out;
    }
}
