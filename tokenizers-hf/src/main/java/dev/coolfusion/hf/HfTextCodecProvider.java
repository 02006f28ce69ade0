package dev.coolfusion.hf;

import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TextCodecProvider;
import java.nio.file.Path;

/** Creates an {@link HfTextCodec}; option {@code path}: a model folder or a {@code tokenizer.json}. */
public final class HfTextCodecProvider implements TextCodecProvider {
    @Override
    public String name() {
        return "hf-tokenizer";
    }

    @Override
    public String description() {
        return "Hugging Face tokenizer.json through DJL (option: path)";
    }

    @Override
    public TextCodec create(ProviderConfig config) {
        return HfTextCodec.load(Path.of(config.require("path")));
    }
}
