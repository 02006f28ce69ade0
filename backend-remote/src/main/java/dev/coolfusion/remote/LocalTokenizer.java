package dev.coolfusion.remote;

import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TextCodecProvider;
import java.util.Map;
import java.util.ServiceLoader;

/** A local copy of a served model's tokenizer, read by the {@value #CODEC} codec provider found through ServiceLoader. */
final class LocalTokenizer {
    static final String CODEC = "hf-tokenizer";

    private LocalTokenizer() {}

    /** The tokenizer at {@code path} (a model folder or a {@code tokenizer.json}); {@code provider} names the caller. */
    static TextCodec load(String path, String provider) {
        TextCodecProvider codecs = ServiceLoader.load(TextCodecProvider.class).stream().map(ServiceLoader.Provider::get)
                .filter(p -> p.name().equals(CODEC)).findFirst().orElseThrow(() -> new FusionException(
                        "provider '" + provider + "' option 'tokenizer' needs the '" + CODEC + "' codec provider"
                                + " (backend-djl) on the class path"));
        return codecs.create(ProviderConfig.of(CODEC, Map.of("path", path)));
    }

    /** Frees {@code codec} if it holds native resources (a loaded local tokenizer does; a remote codec does not). */
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
