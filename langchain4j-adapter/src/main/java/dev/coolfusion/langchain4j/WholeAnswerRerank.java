package dev.coolfusion.langchain4j;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.template.SourcePrompts;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.template.TemplateMessage;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The paper's Rerank baseline over whole answers: every proposer ({@link ChatModel}, e.g. the fused model itself,
 * an {@code OllamaChatModel} or any other LangChain4j model) writes a full answer; every scorer (a source model) reads
 * the conversation rendered with its own chat template and scores each answer, in its own tokenization, from that
 * prompt state, with its end-of-sequence token after the answer (the answer is complete); the {@link RerankMetric}
 * (average perplexity over scorers, Eq. 3, by default) picks the answer, lowest first.
 *
 * <p>It is itself a {@link ChatModel}: {@code chat(...)} returns the winning answer. Proposers run one after another
 * on the calling thread; every scorer state is released before {@link #rerank} returns.
 */
public final class WholeAnswerRerank implements ChatModel {
    private final Map<String, ChatModel> proposers;
    private final List<SourceModel> scorers;
    private final RerankMetric metric;
    private final SourcePrompts prompts;

    private WholeAnswerRerank(Builder b) {
        if (b.proposers.isEmpty()) {
            throw new IllegalStateException("no proposers: add at least one with proposer(name, chatModel)");
        }
        if (b.scorers.isEmpty()) {
            throw new IllegalStateException("no scorers: add source models with scorers(...) or scorers(fusion)");
        }
        this.proposers = new LinkedHashMap<>(b.proposers);
        this.scorers = List.copyOf(b.scorers);
        this.metric = b.metric;
        this.prompts = SourcePrompts.of(scorers);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * One proposer's answer and how the scorers judged it.
     *
     * @param modelScores each scorer's value of the answer under the rerank metric ({@link RerankMetric#modelScores}),
     *                    by scorer name: its perplexity for {@code avg-ppl}, its bits per byte for {@code
     *                    bits-per-byte}; empty for a metric without per-model values
     * @param score       the metric's score; lower wins
     */
    public record Candidate(String proposer, String answer, Map<String, Double> modelScores, double score) {
        public Candidate {
            requireNonNull(proposer, "proposer is null");
            requireNonNull(answer, "answer is null");
            modelScores = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(requireNonNull(modelScores,
                    "modelScores is null")));
        }
    }

    /** The winning answer, its proposer, and every candidate in proposer order. */
    public record Result(String answer, String winner, List<Candidate> candidates) {
        public Result {
            requireNonNull(answer, "answer is null");
            requireNonNull(winner, "winner is null");
            candidates = List.copyOf(candidates);
        }
    }

    /** The metric that ranks the answers (the fusion's with {@link Builder#scorers(CoolFusion)}). */
    public RerankMetric metric() {
        return metric;
    }

    /** Asks every proposer, scores every answer with every scorer, and returns the best. */
    public Result rerank(ChatRequest request) {
        requireNonNull(request, "request is null");
        List<TemplateMessage> messages = FusedChat.messages(request);
        List<String> names = new ArrayList<>(proposers.keySet());
        List<String> answers = new ArrayList<>();
        for (String name : names) {
            String text = proposers.get(name).chat(request).aiMessage().text();
            answers.add(text == null ? "" : text);
        }
        return score(messages, names, answers);
    }

    /** Scores given answers (e.g. from proposers run elsewhere) to the conversation. */
    public Result score(List<TemplateMessage> messages, List<String> proposerNames, List<String> answers) {
        if (proposerNames.size() != answers.size()) {
            throw new IllegalArgumentException("one proposer name per answer");
        }
        List<CandidateEvidence> evidence = WholeAnswers.assess(scorers, prompts.tokens(messages), answers, WholeAnswers.Ending.EOS);
        RerankMetric.Ranking ranking = metric.rank(evidence);
        List<Candidate> candidates = new ArrayList<>();
        for (int c = 0; c < answers.size(); c++) {
            candidates.add(new Candidate(proposerNames.get(c), answers.get(c), ranking.modelScores().get(c), ranking.score(c)));
        }
        int best = ranking.winner();
        return new Result(answers.get(best), proposerNames.get(best), candidates);
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        if (request.parameters().toolSpecifications() != null && !request.parameters().toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("tools are not supported by the whole-answer rerank");
        }
        Result result = rerank(request);
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(result.answer()))
                .metadata(ChatResponseMetadata.builder().modelName("rerank(" + result.winner() + ")").build())
                .build();
    }

    public static final class Builder {
        private final Map<String, ChatModel> proposers = new LinkedHashMap<>();
        private final List<SourceModel> scorers = new ArrayList<>();
        private RerankMetric metric = new AveragePerplexity();

        private Builder() {}

        /** Adds a proposer; names must be unique. */
        public Builder proposer(String name, ChatModel model) {
            requireNonNull(name, "name is null");
            requireNonNull(model, "model is null");
            if (proposers.putIfAbsent(name, model) != null) {
                throw new IllegalArgumentException("two proposers are named '" + name + "'");
            }
            return this;
        }

        public Builder scorers(List<? extends SourceModel> sources) {
            requireNonNull(sources, "sources is null").forEach(s -> scorers.add(requireNonNull(s, "source is null")));
            return this;
        }

        /** The fusion's sources score, with its metric. */
        public Builder scorers(CoolFusion fusion) {
            requireNonNull(fusion, "fusion is null");
            scorers(fusion.sources());
            return metric(fusion.metric());
        }

        public Builder metric(RerankMetric metric) {
            this.metric = requireNonNull(metric, "metric is null");
            return this;
        }

        public WholeAnswerRerank build() {
            return new WholeAnswerRerank(this);
        }
    }
}
