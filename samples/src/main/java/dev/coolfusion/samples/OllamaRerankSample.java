package dev.coolfusion.samples;

import dev.coolfusion.langchain4j.CoolFusionChatModel;
import dev.coolfusion.langchain4j.WholeAnswerRerank;
import dev.coolfusion.spi.FusionException;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.ollama.OllamaChatModel;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The Rerank baseline with an extra whole-answer proposer from Ollama: the fused model writes an answer, an
 * {@link OllamaChatModel} writes another, and every fused source scores both in its own tokenization; the fusion's
 * rerank metric picks the lowest (average perplexity by default; {@link WholeAnswerRerank}).
 *
 * <p><b>Needs a running Ollama server</b> with the model pulled ({@code ollama pull llama3.2}); CI does not run this
 * sample (its test replays Ollama's {@code /api/chat} answers from a local stand-in server).
 *
 * <pre>
 * java -cp samples/target/classes:$(cat samples/target/classpath.txt) dev.coolfusion.samples.OllamaRerankSample \
 *     [fusion.yaml (default models/fusion.yaml)] [ollama URL (default http://localhost:11434)] [ollama model (default llama3.2)] \
 *     ["question"]
 * </pre>
 */
public final class OllamaRerankSample {
    private OllamaRerankSample() {}

    /** The rerank: the fused model and Ollama propose, the fused sources score with the fusion's metric. */
    public static WholeAnswerRerank rerank(CoolFusionChatModel fused, ChatModel ollama, String ollamaName) {
        return WholeAnswerRerank.builder()
                .proposer("fused", fused)
                .proposer(ollamaName, ollama)
                .scorers(fused.fusion().fusion())
                .build();
    }

    public static OllamaChatModel ollama(String baseUrl, String model) {
        return OllamaChatModel.builder().baseUrl(baseUrl).modelName(model).timeout(Duration.ofMinutes(5)).build();
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        Path config = Path.of(args.length > 0 ? args[0] : "models/fusion.yaml");
        String url = args.length > 1 ? args[1] : "http://localhost:11434";
        String ollamaModel = args.length > 2 ? args[2] : "llama3.2";
        String question = args.length > 3 ? args[3] : "What is 17 + 25? Answer briefly.";
        if (!Files.isRegularFile(config)) {
            err.println("error: fusion config " + config.toAbsolutePath() + " not found; give a fusion YAML config as "
                    + "the first argument");
            return 1;
        }
        try (CoolFusionChatModel fused = CoolFusionChatModel.builder().config(config).build()) {
            WholeAnswerRerank rerank = rerank(fused, ollama(url, ollamaModel), "ollama:" + ollamaModel);
            WholeAnswerRerank.Result result = rerank.rerank(ChatRequest.builder()
                    .messages(UserMessage.from(question)).build());
            for (WholeAnswerRerank.Candidate c : result.candidates()) {
                out.printf("%-20s score %.3f  %s %s%n  %s%n", c.proposer(), c.score(), rerank.metric().name(),
                        c.modelScores(), c.answer().replace("\n", "\n  "));
            }
            out.println("winner: " + result.winner());
            return 0;
        } catch (FusionException | IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            return 1;
        } catch (RuntimeException e) {
            err.println("error: " + e.getMessage() + " (is an Ollama server running at " + url + " with model "
                    + ollamaModel + "?)");
            return 1;
        }
    }
}
