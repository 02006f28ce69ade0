package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.core.StepTrace;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.listener.ChatModelErrorContext;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class CoolFusionStreamingChatModelTest extends AbstractFusedChatModelTest {
    @Override
    protected Object model(List<ChatModelListener> listeners) {
        return CoolFusionStreamingChatModel.builder().fusion(TinyFusedModels.fused()).listeners(listeners).build();
    }

    /** Collects the stream and checks on every call that the partials concatenate to the final text. */
    @Override
    protected ChatResponse chat(Object model, ChatRequest request) {
        Collector c = new Collector();
        ((CoolFusionStreamingChatModel) model).chat(request, c);
        if (c.error.get() != null) {
            if (c.error.get() instanceof RuntimeException e) {
                throw e;
            }
            throw new AssertionError(c.error.get());
        }
        ChatResponse r = c.response.get();
        assertEquals(r.aiMessage().text(), String.join("", c.partials));
        return r;
    }

    static class Collector implements StreamingChatResponseHandler {
        final List<String> partials = new ArrayList<>();
        final AtomicReference<ChatResponse> response = new AtomicReference<>();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        int errors;

        @Override
        public void onPartialResponse(String partial) {
            partials.add(partial);
        }

        @Override
        public void onCompleteResponse(ChatResponse r) {
            response.set(r);
        }

        @Override
        public void onError(Throwable t) {
            errors++;
            error.set(t);
        }
    }

    @Test
    void everyWinningSegmentIsOnePartialAsSoonAsItWins() {
        Collector c = new Collector();
        CoolFusionStreamingChatModel model = (CoolFusionStreamingChatModel) model(List.of());
        model.chat(ChatRequest.builder().maxOutputTokens(16).messages(UserMessage.from("Tell me a story.")).build(), c);
        ChatResponse r = c.response.get();
        List<String> emitted = ((CoolFusionChatResponseMetadata) r.metadata()).steps().stream().map(StepTrace::emitted)
                .filter(s -> !s.isEmpty()).toList();
        assertEquals(emitted, c.partials);
        assertTrue(c.partials.size() > 1, "several segments expected: " + c.partials);
        assertEquals(r.aiMessage().text(), String.join("", c.partials));
    }

    @Test
    void aHandlerThatThrowsEndsTheGenerationReleasesEveryStateAndLeavesNoThread() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        List<String> listenerErrors = new ArrayList<>();
        ChatModelListener listener = new ChatModelListener() {
            @Override
            public void onError(ChatModelErrorContext ctx) {
                listenerErrors.add(ctx.error().getMessage());
            }
        };
        CoolFusionStreamingChatModel model = (CoolFusionStreamingChatModel) model(List.of(listener));
        IllegalStateException boom = new IllegalStateException("handler failed");
        List<String> seen = new ArrayList<>();
        AtomicReference<Throwable> error = new AtomicReference<>();
        AtomicReference<ChatResponse> complete = new AtomicReference<>();
        model.chat(ChatRequest.builder().maxOutputTokens(32).messages(UserMessage.from("Tell me a story.")).build(),
                new StreamingChatResponseHandler() {
                    @Override
                    public void onPartialResponse(String partial) {
                        seen.add(partial);
                        if (seen.size() == 2) {
                            throw boom;
                        }
                    }

                    @Override
                    public void onCompleteResponse(ChatResponse r) {
                        complete.set(r);
                    }

                    @Override
                    public void onError(Throwable t) {
                        error.set(t);
                    }
                });
        // chat(...) returned: the error was reported on this thread, the generation ended at the second segment
        assertSame(boom, error.get());
        assertNull(complete.get());
        assertEquals(2, seen.size());
        assertEquals(List.of("handler failed"), listenerErrors);
        for (DjlSourceModel m : TinyFusedModels.both()) {
            assertEquals(0, m.liveStates(), m.name() + " kept states after the handler failed");
        }
        // no new thread is left doing work: any thread started meanwhile is an idle pooled daemon
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (!before.contains(t) && t.isAlive()) {
                assertTrue(t.isDaemon(), "non-daemon thread left: " + t);
                StackTraceElement[] stack = t.getStackTrace();
                String frames = java.util.Arrays.stream(stack).map(StackTraceElement::toString).collect(Collectors.joining("\n"));
                assertTrue(!frames.contains("dev.coolfusion"), "thread " + t.getName() + " still runs fusion code:\n" + frames);
            }
        }
    }
}
