package dev.coolfusion.spi;

/**
 * How {@link SourceModel#nextToken} picks a token.
 *
 * <p>Sampling randomness is supplied by the caller as {@code uniform}, one draw from [0, 1). A backend turns it
 * into a token by inverse-CDF sampling over the (temperature-scaled, top-p truncated) distribution in a fixed
 * token order. This keeps a seeded fusion reproducible no matter how backends are scheduled, and works
 * unchanged over a network.
 *
 * @param temperature 0 means greedy (argmax); otherwise logits are divided by it
 * @param topP        nucleus mass in (0, 1]; 1 disables truncation
 * @param uniform     a random draw in [0, 1), ignored when greedy
 */
public record Decoding(double temperature, double topP, double uniform) {
    public static final Decoding GREEDY = new Decoding(0, 1, 0);

    public Decoding {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        }
        if (!(uniform >= 0 && uniform < 1)) {
            throw new IllegalArgumentException("uniform must be in [0, 1), got " + uniform);
        }
    }

    public boolean greedy() {
        return temperature == 0;
    }
}
