package dev.coolfusion.djl.model;

import dev.coolfusion.spi.Decoding;
import java.util.Arrays;

/**
 * Picks a token from next-token log-probabilities: argmax when greedy, otherwise temperature and top-p, then an
 * inverse-CDF draw with {@link Decoding#uniform()} over the kept tokens in id order.
 */
final class Sampler {
    private Sampler() {}

    static int choose(float[] logProbs, Decoding decoding) {
        if (decoding.greedy()) {
            return argmax(logProbs);
        }
        int n = logProbs.length;
        double inverseT = 1.0 / decoding.temperature();
        double max = Double.NEGATIVE_INFINITY;
        for (float lp : logProbs) {
            max = Math.max(max, lp * inverseT);
        }
        double[] weights = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            double w = Math.exp(logProbs[i] * inverseT - max);
            weights[i] = w;
            total += w;
        }
        boolean[] kept = null;
        double keptTotal = total;
        if (decoding.topP() < 1) {
            // Keep the most probable tokens while the mass before them is below topP (ties: lower id first).
            long[] order = new long[n];
            for (int i = 0; i < n; i++) {
                long bits = Float.floatToIntBits((float) weights[i]);
                order[i] = (bits << 32) | (0xFFFFFFFFL - i);
            }
            Arrays.sort(order);
            kept = new boolean[n];
            double mass = 0;
            keptTotal = 0;
            double limit = decoding.topP() * total;
            for (int j = n - 1; j >= 0; j--) {
                int id = (int) (0xFFFFFFFFL - (order[j] & 0xFFFFFFFFL));
                if (mass >= limit && keptTotal > 0) {
                    break;
                }
                kept[id] = true;
                mass += weights[id];
                keptTotal += weights[id];
            }
        }
        double target = decoding.uniform() * keptTotal;
        double cumulative = 0;
        int lastKept = -1;
        for (int i = 0; i < n; i++) {
            if (kept != null && !kept[i]) {
                continue;
            }
            cumulative += weights[i];
            lastKept = i;
            if (cumulative > target) {
                return i;
            }
        }
        return lastKept;
    }

    static int argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }
}
