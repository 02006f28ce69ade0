package dev.coolfusion.core;

import dev.coolfusion.spi.SourceModel;

/** Test access to the scripted model from other packages. */
public final class TestModels {
    private TestModels() {}

    public static SourceModel scripted(String name, String script, double confidence) {
        return new ScriptedModel(name, CharCodec.Words.PRE_TOKENIZER, script, confidence);
    }
}
