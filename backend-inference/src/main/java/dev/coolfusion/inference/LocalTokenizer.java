package dev.coolfusion.inference;

import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.TextCodec;
import java.nio.file.Path;

/** A local copy of a served model's tokenizer ({@link HfTextCodec}, from tokenizers-hf: no libtorch needed). */
final class LocalTokenizer {
    private LocalTokenizer() {}

    /** The tokenizer at {@code path} (a model folder or a {@code tokenizer.json}). */
    static TextCodec load(String path) {
        return HfTextCodec.load(Path.of(path));
    }

    /** Frees {@code codec} if it holds native resources (a loaded local tokenizer does; a codec without native parts does not). */
    static void close(TextCodec codec) {
        if (codec instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                throw new FusionException("cannot close tokenizer " + codec + ": " + e.getMessage(), e);
            }
        }
    }
}
