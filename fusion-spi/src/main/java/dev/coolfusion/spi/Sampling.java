package dev.coolfusion.spi;

import java.util.SplittableRandom;

/**
 * How T1 draws its tokens in one step: the {@link Decoding} of the {@code token}-th token a source generates in step
 * {@code step} is fixed by these numbers alone, so a seeded fusion gives the same text wherever T1 runs (in process or
 * on a worker) and however the sources are scheduled.
 *
 * <p>The draw, which a worker in another language must reproduce: {@code mixed = seed ^ (0x9E3779B97F4A7C15 * (step +
 * 1)) ^ (0xC2B2AE3D27D4EB4F * (source + 1)) ^ (0x165667B19E3779F9 * (token + 1))} in 64-bit two's complement, and
 * {@code uniform = new java.util.SplittableRandom(mixed).nextDouble()} (SplitMix64: the top 53 bits of the first output
 * times 2^-53).
 *
 * @param temperature 0 for greedy decoding, else the sampling temperature
 * @param topP        nucleus mass in (0, 1]
 * @param seed        the generation's seed
 * @param step        the fusion step (0 for the first segment)
 * @param source      the proposing source's index in the fusion
 */
public record Sampling(double temperature, double topP, long seed, int step, int source) {
    public Sampling {
        new Decoding(temperature, topP, 0); // validates both
        if (step < 0 || source < 0) {
            throw new IllegalArgumentException("step and source must be >= 0, got " + step + " and " + source);
        }
    }

    /** Greedy decoding (no draws). */
    public static Sampling greedy(int step, int source) {
        return new Sampling(0, 1, 0, step, source);
    }

    /** The decoding of the {@code token}-th token (0-based, replayed look-ahead included) of this step. */
    public Decoding decoding(int token) {
        if (temperature == 0) {
            return Decoding.GREEDY;
        }
        long mixed = seed ^ (0x9E3779B97F4A7C15L * (step + 1)) ^ (0xC2B2AE3D27D4EB4FL * (source + 1))
                ^ (0x165667B19E3779F9L * (token + 1));
        return new Decoding(temperature, topP, new SplittableRandom(mixed).nextDouble());
    }
}
