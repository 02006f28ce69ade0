package dev.coolfusion.langchain4j;

import com.google.inject.AbstractModule;
import com.google.inject.Injector;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.inject.CoolFusionModule;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.language.LanguageModel;

/**
 * Binds {@link ChatModel}, {@link StreamingChatModel} and {@link LanguageModel} to the fused models of a
 * {@code CoolFusionModule} in the same injector:
 * {@code Guice.createInjector(new CoolFusionModule(config), new CoolFusionLangChain4jModule())}.
 * The sources stay the injector's ({@code List<SourceModel>}); close them when done. Guice wraps a fusion that
 * cannot be made in a {@code ProvisionException}; {@code CoolFusionModule.getInstance(injector, ChatModel.class)} (or
 * {@link #chatModel(Injector)}) throws the {@link dev.coolfusion.spi.FusionException} behind it instead.
 */
public final class CoolFusionLangChain4jModule extends AbstractModule {
    @Provides
    @Singleton
    ChatModel chatModel(ConfiguredFusion fused) {
        return CoolFusionChatModel.builder().fusion(fused).build();
    }

    @Provides
    @Singleton
    StreamingChatModel streamingChatModel(ConfiguredFusion fused) {
        return CoolFusionStreamingChatModel.builder().fusion(fused).build();
    }

    @Provides
    @Singleton
    LanguageModel languageModel(ConfiguredFusion fused) {
        return CoolFusionLanguageModel.builder().fusion(fused).build();
    }

    /**
     * A shortcut for code that has an injector with {@code CoolFusionModule}: its fused models as a chat model. A
     * fusion that cannot be made is the {@link dev.coolfusion.spi.FusionException} that says why.
     */
    public static CoolFusionChatModel chatModel(Injector injector) {
        return CoolFusionChatModel.builder().fusion(CoolFusionModule.getInstance(injector, ConfiguredFusion.class))
                .build();
    }
}
