package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.DroppedSource;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.SourceFailurePolicy;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.Collection;
import java.util.OptionalInt;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

class CoolFusionChatModelTest extends AbstractFusedChatModelTest {
    @Override
    protected Object model(List<ChatModelListener> listeners) {
        return CoolFusionChatModel.builder().fusion(TinyFusedModels.fused()).listeners(listeners).build();
    }

    @Override
    protected ChatResponse chat(Object model, ChatRequest request) {
        return ((CoolFusionChatModel) model).chat(request);
    }

    @Test
    void defaultParametersComeFromTheBuilderAndRequestsOverrideThem() {
        CoolFusionChatModel model = CoolFusionChatModel.builder().sources(TinyFusedModels.both()).maxOutputTokens(2)
                .modelName("fused").build();
        assertEquals(2, model.defaultRequestParameters().maxOutputTokens());
        assertEquals("fused", model.defaultRequestParameters().modelName());
        assertEquals("fused", model.chat(ChatRequest.builder().messages(dev.langchain4j.data.message.UserMessage.from("Hi"))
                .build()).modelName());
        String shortAnswer = model.chat("Hi");
        assertEquals(true, TinyFusedModels.llama3().codec().encodeContinuation(shortAnswer).ids().size() <= 2);
    }

    /** qwen3, except that generating fails, as a source on a worker that died. */
    private static SourceModel dying(SourceModel inner) {
        return new SourceModel() {
            public String name() { return inner.name(); }
            public TextCodec codec() { return inner.codec(); }
            public StateHandle open(List<Integer> prompt) { return inner.open(prompt); }
            public TokenStep nextToken(StateHandle state, Decoding decoding) {
                throw new IllegalStateException("the worker died");
            }
            public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
                return inner.score(state, candidates);
            }
            public void commit(StateHandle temporary) { inner.commit(temporary); }
            public void release(Collection<StateHandle> states) { inner.release(states); }
            public OptionalInt maxContextTokens() { return inner.maxContextTokens(); }
        };
    }

    @Test
    void theMetadataNamesASourceThatOnSourceFailureDropLeftOut() {
        ConfiguredFusion dropping = ConfiguredFusion.of(CoolFusion.builder().addSource(TinyFusedModels.llama3())
                .addSource(dying(TinyFusedModels.qwen3())).build(), FusionOptions.builder().maxSegmentTokens(4)
                .onSourceFailure(SourceFailurePolicy.DROP).build());
        ChatResponse r = CoolFusionChatModel.builder().fusion(dropping).build().chat(ChatRequest.builder()
                .maxOutputTokens(6).messages(dev.langchain4j.data.message.UserMessage.from("Hi")).build());
        CoolFusionChatResponseMetadata meta = (CoolFusionChatResponseMetadata) r.metadata();
        assertEquals(List.of(new DroppedSource("qwen3", 0, "segment generation (T1)", "the worker died",
                java.util.Optional.empty())), meta.dropped());
        assertFalse(meta.steps().isEmpty());
        for (StepTrace step : meta.steps()) {
            step.candidates().forEach(c -> assertEquals(List.of("llama3"), c.scorers(), c.toString()));
        }
        assertTrue(meta.toString().contains("dropped=[DroppedSource[source=qwen3"), meta.toString());
    }
}
