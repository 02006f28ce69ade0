package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
