package dev.coolfusion.langchain4j;

import com.google.inject.AbstractModule;
import com.google.inject.Injector;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.language.LanguageModel;

/**
 * Binds {@link ChatModel}, {@link StreamingChatModel} and {@link LanguageModel} to the fused models of a
 * {@code CoolFusionModule} in the same injector:
 * {@code Guice.createInjector(new CoolFusionModule(config), new CoolFusionLangChain4jModule())}.
 * The sources stay the injector's ({@code List<SourceModel>}); close them when done.
 */
public final class CoolFusionLangChain4jModule extends AbstractModule {
    @Provides
    @Singleton
    FusionBackend backend(CoolFusion fusion, FusionOptions options) {
        return FusionBackend.of(fusion, options);
    }

    @Provides
    @Singleton
    ChatModel chatModel(FusionBackend backend) {
        return CoolFusionChatModel.builder().backend(backend).build();
    }

    @Provides
    @Singleton
    StreamingChatModel streamingChatModel(FusionBackend backend) {
        return CoolFusionStreamingChatModel.builder().backend(backend).build();
    }

    @Provides
    @Singleton
    LanguageModel languageModel(FusionBackend backend) {
        return CoolFusionLanguageModel.builder().backend(backend).build();
    }

    /** A shortcut for code that has an injector with {@code CoolFusionModule}: its fused models as a chat model. */
    public static CoolFusionChatModel chatModel(Injector injector) {
        return CoolFusionChatModel.builder().backend(FusionBackend.fromInjector(injector)).build();
    }
}
