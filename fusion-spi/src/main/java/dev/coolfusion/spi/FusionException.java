package dev.coolfusion.spi;

/** An error with a message that names the problem and, where there is one, the fix. */
public class FusionException extends RuntimeException {
    public FusionException(String message) {
        super(message);
    }

    public FusionException(String message, Throwable cause) {
        super(message, cause);
    }
}
