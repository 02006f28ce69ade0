package dev.coolfusion.langchain4j;

/**
 * What the adapter's three models share: the fused chat machinery and ownership of the backend (sources created
 * from a config are closed with the model; sources the caller passed in are the caller's to close).
 */
abstract class FusedModel implements AutoCloseable {
    final FusedChat chat;
    private final boolean ownsBackend;

    FusedModel(ModelBuilder<?> builder) {
        this.chat = builder.buildChat();
        this.ownsBackend = builder.ownsBackend;
    }

    /** The name responses carry. */
    public String modelName() {
        return chat.modelName;
    }

    /** The fused models behind this one. */
    public FusionBackend backend() {
        return chat.backend;
    }

    /** Closes the source models if this model created them from a config. */
    @Override
    public void close() {
        if (ownsBackend) {
            chat.backend.close();
        }
    }
}
