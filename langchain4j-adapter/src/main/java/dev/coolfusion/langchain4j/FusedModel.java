package dev.coolfusion.langchain4j;

import dev.coolfusion.core.config.ConfiguredFusion;

/**
 * What the adapter's three models share: the fused chat machinery and ownership of the sources (sources created
 * from a config are closed with the model; sources the caller passed in are the caller's to close).
 */
abstract class FusedModel implements AutoCloseable {
    final FusedChat chat;
    private final boolean ownsFusion;

    FusedModel(ModelBuilder<?> builder) {
        this.chat = builder.buildChat();
        this.ownsFusion = builder.ownsFusion;
    }

    /** The name responses carry. */
    public String modelName() {
        return chat.modelName;
    }

    /** The fusion behind this model, with its default options. */
    public ConfiguredFusion fusion() {
        return chat.fused;
    }

    /** Closes the source models if this model created them from a config. */
    @Override
    public void close() {
        if (ownsFusion) {
            chat.fused.close();
        }
    }
}
