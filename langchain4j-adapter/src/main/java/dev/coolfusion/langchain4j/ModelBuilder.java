package dev.coolfusion.langchain4j;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.spi.SourceModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What every adapter builder takes: where the fused models come from, a name, default parameters, listeners. */
public abstract class ModelBuilder<B extends ModelBuilder<B>> {
    ConfiguredFusion fused;
    boolean ownsFusion;
    String modelName;
    ChatRequestParameters defaultRequestParameters;
    Double temperature;
    Double topP;
    Integer maxOutputTokens;
    List<String> stopSequences;
    final List<ChatModelListener> listeners = new ArrayList<>();

    ModelBuilder() {}

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** A fusion with its default options, owned (and closed) by the caller. */
    public B fusion(ConfiguredFusion fused) {
        this.fused = requireNonNull(fused, "fused is null");
        this.ownsFusion = false;
        return self();
    }

    /** A fusion the caller owns, with its default generation options. */
    public B fusion(CoolFusion fusion, FusionOptions defaults) {
        return fusion(ConfiguredFusion.of(fusion, defaults));
    }

    /** A fusion the caller owns, with {@link FusionOptions#defaults()}. */
    public B fusion(CoolFusion fusion) {
        return fusion(fusion, FusionOptions.defaults());
    }

    /** Source models the caller owns, fused with the default metric. */
    public B sources(List<? extends SourceModel> sources) {
        return fusion(ConfiguredFusion.of(sources));
    }

    /**
     * Sources, metric and options from a fusion YAML config (as {@code cool-fusion eval}); the model closes them.
     * Every problem (the file, an unknown provider and the artifact that has it, a provider's failure, two sources
     * with one name) is a {@link dev.coolfusion.spi.FusionException}.
     */
    public B config(Path yaml) {
        this.fused = FusionFactory.discover().create(requireNonNull(yaml, "yaml is null"));
        this.ownsFusion = true;
        return self();
    }

    public B modelName(String modelName) {
        this.modelName = modelName;
        return self();
    }

    /** Defaults for every request; a request's own parameters win. */
    public B defaultRequestParameters(ChatRequestParameters parameters) {
        this.defaultRequestParameters = parameters;
        return self();
    }

    public B temperature(Double temperature) {
        this.temperature = temperature;
        return self();
    }

    public B topP(Double topP) {
        this.topP = topP;
        return self();
    }

    public B maxOutputTokens(Integer maxOutputTokens) {
        this.maxOutputTokens = maxOutputTokens;
        return self();
    }

    public B stopSequences(List<String> stopSequences) {
        this.stopSequences = stopSequences;
        return self();
    }

    public B listeners(List<ChatModelListener> listeners) {
        this.listeners.clear();
        if (listeners != null) {
            this.listeners.addAll(listeners);
        }
        return self();
    }

    FusedChat buildChat() {
        if (fused == null) {
            throw new IllegalStateException("no fused models: call config(path), sources(...) or fusion(...)");
        }
        var params = dev.langchain4j.model.chat.request.DefaultChatRequestParameters.builder()
                .temperature(temperature)
                .topP(topP)
                .maxOutputTokens(maxOutputTokens)
                .stopSequences(stopSequences)
                .build();
        ChatRequestParameters defaults = defaultRequestParameters == null ? params : defaultRequestParameters.overrideWith(params);
        return new FusedChat(fused, modelName, defaults, listeners);
    }
}
