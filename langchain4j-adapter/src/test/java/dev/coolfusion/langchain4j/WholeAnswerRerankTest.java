package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.template.SourcePrompts;
import dev.coolfusion.template.TemplateMessage;
import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.core.metric.BitsPerByte;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Whole-answer Rerank with a real fused chat model and a plain ChatModel written here as proposers. */
class WholeAnswerRerankTest {

    /** Any LangChain4j ChatModel: this one always answers the same text. */
    record FixedAnswer(String answer) implements ChatModel {
        @Override
        public ChatResponse doChat(ChatRequest request) {
            return ChatResponse.builder().aiMessage(AiMessage.from(answer)).build();
        }
    }

    @Test
    void everySourceScoresEveryAnswerInItsOwnTokenizationAndTheLowestAveragePerplexityWins() {
        List<DjlSourceModel> sources = TinyFusedModels.both();
        CoolFusionChatModel fused = CoolFusionChatModel.builder().sources(sources).maxOutputTokens(6).build();
        WholeAnswerRerank rerank = WholeAnswerRerank.builder()
                .proposer("fused", fused)
                .proposer("fixed", new FixedAnswer("The answer is 5."))
                .proposer("other", new FixedAnswer("5"))
                .scorers(sources)
                .build();
        ChatRequest request = ChatRequest.builder().messages(UserMessage.from("What is 2 + 3?")).build();
        WholeAnswerRerank.Result result = rerank.rerank(request);

        assertEquals(List.of("fused", "fixed", "other"), result.candidates().stream().map(WholeAnswerRerank.Candidate::proposer).toList());
        assertEquals("The answer is 5.", result.candidates().get(1).answer());
        double best = result.candidates().stream().mapToDouble(WholeAnswerRerank.Candidate::score).min().orElseThrow();
        WholeAnswerRerank.Candidate winner = result.candidates().stream().filter(c -> c.proposer().equals(result.winner()))
                .findFirst().orElseThrow();
        assertEquals(best, winner.score());
        assertEquals(winner.answer(), result.answer());

        // Recompute one candidate's perplexity by hand: the source's own template prompt, its own tokens + EOS.
        List<TemplateMessage> messages = List.of(TemplateMessage.user("What is 2 + 3?"));
        for (int s = 0; s < sources.size(); s++) {
            DjlSourceModel source = sources.get(s);
            List<Integer> prompt = SourcePrompts.of(List.copyOf(sources)).tokens(messages).get(s);
            List<Integer> tokens = new ArrayList<>(source.codec().encodeContinuation("The answer is 5.").ids());
            tokens.add(source.codec().primaryEndOfSequenceId().getAsInt());
            StateHandle state = source.open(prompt);
            ScoredTokens scored = source.score(state, List.of(tokens)).get(0);
            source.release(List.of(state, scored.state()));
            double ppl = Math.exp(-scored.logProbs().stream().mapToDouble(Double::doubleValue).average().orElseThrow());
            assertEquals(ppl, result.candidates().get(1).modelScores().get(source.name()), 1e-9 * ppl);
        }
        double average = result.candidates().get(1).modelScores().values().stream().mapToDouble(Double::doubleValue)
                .average().orElseThrow();
        assertEquals(average, result.candidates().get(1).score(), 1e-9 * average);
        for (WholeAnswerRerank.Candidate c : result.candidates()) {
            assertEquals(sources.stream().map(DjlSourceModel::name).toList(), List.copyOf(c.modelScores().keySet()));
        }
        assertEquals(AveragePerplexity.NAME, rerank.metric().name(), "the default metric");
        sources.forEach(m -> assertEquals(0, m.liveStates()));
        // as a ChatModel it answers with the winner
        assertEquals(result.answer(), rerank.chat(request).aiMessage().text());
        assertTrue(sources.stream().allMatch(m -> m.liveStates() == 0));
    }

    @Test
    void withBitsPerByteEveryCandidateCarriesEachScorersBitsPerByteAndTheLowestWins() {
        List<DjlSourceModel> sources = TinyFusedModels.both();
        List<String> answers = List.of("The answer is 5.", "5", "t5 t6 t7");
        WholeAnswerRerank rerank = WholeAnswerRerank.builder()
                .proposer("unused", new FixedAnswer("x"))
                .scorers(sources)
                .metric(new BitsPerByte())
                .build();
        List<TemplateMessage> messages = List.of(TemplateMessage.user("What is 2 + 3?"));
        WholeAnswerRerank.Result result = rerank.score(messages, List.of("a", "b", "c"), answers);
        for (int c = 0; c < answers.size(); c++) {
            WholeAnswerRerank.Candidate candidate = result.candidates().get(c);
            int bytes = answers.get(c).getBytes(StandardCharsets.UTF_8).length + 1; // + the end-of-sequence token
            double sum = 0;
            for (int s = 0; s < sources.size(); s++) {
                DjlSourceModel source = sources.get(s);
                List<Integer> prompt = SourcePrompts.of(List.copyOf(sources)).tokens(messages).get(s);
                List<Integer> tokens = new ArrayList<>(source.codec().encodeContinuation(answers.get(c)).ids());
                tokens.add(source.codec().primaryEndOfSequenceId().getAsInt());
                StateHandle state = source.open(prompt);
                ScoredTokens scored = source.score(state, List.of(tokens)).get(0);
                source.release(List.of(state, scored.state()));
                double bpb = -scored.logProbs().stream().mapToDouble(Double::doubleValue).sum() / Math.log(2) / bytes;
                assertEquals(bpb, candidate.modelScores().get(source.name()), 1e-6 * bpb, source.name()); // batched vs alone
                sum += bpb;
            }
            assertEquals(sources.size(), candidate.modelScores().size());
            assertEquals(sum / sources.size(), candidate.score(), 1e-6 * candidate.score());
        }
        double[] scores = result.candidates().stream().mapToDouble(WholeAnswerRerank.Candidate::score).toArray();
        int best = RerankMetric.best(scores);
        assertEquals(List.of("a", "b", "c").get(best), result.winner());
        assertEquals(answers.get(best), result.answer());
        assertEquals(java.util.Arrays.stream(scores).min().orElseThrow(), scores[best]);
        sources.forEach(m -> assertEquals(0, m.liveStates()));
    }
}
