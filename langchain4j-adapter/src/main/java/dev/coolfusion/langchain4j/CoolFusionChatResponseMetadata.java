package dev.coolfusion.langchain4j;

import dev.coolfusion.core.DroppedSource;
import dev.coolfusion.core.StepTrace;
import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Chat response metadata with the fusion's per-segment trace: for every step, the candidates each source proposed,
 * every source's log-probs of each and its value under the fusion's rerank metric ({@link
 * dev.coolfusion.core.CandidateTrace#modelScores}), each candidate's score, and the winner ({@link #winners()} lists
 * who won each segment).
 *
 * <p>Token usage counts input tokens in the first source's tokenization of its own rendered prompt, and output
 * tokens in the first source's tokenization of the answer; {@link #promptTokens()} has every source's prompt length.
 * {@link #dropped()} names the sources that the fault policy {@code on-source-failure: drop} left out, and why.
 */
public class CoolFusionChatResponseMetadata extends ChatResponseMetadata {
    private final List<StepTrace> steps;
    private final Map<String, Integer> promptTokens;
    private final List<DroppedSource> dropped;

    protected CoolFusionChatResponseMetadata(Builder builder) {
        super(builder);
        this.steps = builder.steps == null ? List.of() : List.copyOf(builder.steps);
        this.promptTokens = builder.promptTokens == null ? Map.of() : java.util.Collections.unmodifiableMap(
                new java.util.LinkedHashMap<>(builder.promptTokens));
        this.dropped = builder.dropped == null ? List.of() : List.copyOf(builder.dropped);
    }

    /** The sources dropped after a failure (source, step, phase, reason), in the order they failed; usually empty. */
    public List<DroppedSource> dropped() {
        return dropped;
    }

    /** Every fused step: candidates, their proposers, per-source values and scores, the winner, the text emitted. */
    public List<StepTrace> steps() {
        return steps;
    }

    /** Prompt length in tokens per source name, each in its own tokenization of its own template's rendering. */
    public Map<String, Integer> promptTokens() {
        return promptTokens;
    }

    /** For each step, the text that won and the sources that proposed it. */
    public List<Segment> winners() {
        return steps.stream().map(s -> new Segment(s.winningCandidate().text(), s.winningCandidate().proposers())).toList();
    }

    /** A winning segment and who proposed it. */
    public record Segment(String text, List<String> proposers) {}

    @Override
    public Builder toBuilder() {
        Builder b = builder();
        super.toBuilder(b);
        return b.steps(steps).promptTokens(promptTokens).dropped(dropped);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public boolean equals(Object o) {
        return super.equals(o) && steps.equals(((CoolFusionChatResponseMetadata) o).steps)
                && promptTokens.equals(((CoolFusionChatResponseMetadata) o).promptTokens)
                && dropped.equals(((CoolFusionChatResponseMetadata) o).dropped);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), steps, promptTokens, dropped);
    }

    @Override
    public String toString() {
        return "CoolFusionChatResponseMetadata{modelName='" + modelName() + "', tokenUsage=" + tokenUsage()
                + ", finishReason=" + finishReason() + ", steps=" + steps.size() + ", promptTokens=" + promptTokens + ", dropped=" + dropped + '}';
    }

    public static class Builder extends ChatResponseMetadata.Builder<Builder> {
        private List<StepTrace> steps;
        private Map<String, Integer> promptTokens;
        private List<DroppedSource> dropped;

        public Builder dropped(List<DroppedSource> dropped) {
            this.dropped = dropped;
            return this;
        }

        public Builder steps(List<StepTrace> steps) {
            this.steps = steps;
            return this;
        }

        public Builder promptTokens(Map<String, Integer> promptTokens) {
            this.promptTokens = promptTokens;
            return this;
        }

        @Override
        public CoolFusionChatResponseMetadata build() {
            return new CoolFusionChatResponseMetadata(this);
        }
    }
}
