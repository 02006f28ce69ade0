package dev.coolfusion.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The page {@code GET /} serves: one offline HTML file ({@code playground.html} next to this class; inline CSS and
 * JavaScript, nothing fetched from elsewhere) that streams an answer from this server's API and shows every segment
 * in the colour of the model that won it, with the step's candidates and every model's score on hover or tap.
 */
final class Playground {
    private Playground() {}

    static byte[] page() {
        try (InputStream in = Playground.class.getResourceAsStream("playground.html")) {
            if (in == null) {
                throw new IllegalStateException("playground.html is missing from the fusion-server jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read playground.html", e);
        }
    }
}
