package dev.coolfusion.samples;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.langchain4j.CoolFusionChatModel;
import dev.coolfusion.spi.FusionException;
import dev.langchain4j.memory.ChatMemory;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.SystemMessage;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * A LangChain4j AI service backed by the fused models: a maths tutor with a system message and chat memory. Only
 * the {@link ChatModel} differs from an app on a single LLM.
 *
 * <pre>
 * java -cp samples/target/classes:$(cat samples/target/classpath.txt) dev.coolfusion.samples.MathTutorSample \
 *     [fusion.yaml (default models/fusion.yaml)] ["question" ...]
 * </pre>
 * (build once with {@code ./mvnw -q -B package -DskipTests}; it writes {@code samples/target/classpath.txt}).
 */
public final class MathTutorSample {
    public static final Path DEFAULT_CONFIG = Path.of("models", "fusion.yaml");
    static final List<String> DEFAULT_QUESTIONS = List.of("What is 12 * 7?", "And half of that?");

    /** The AI service: LangChain4j implements it over any ChatModel. */
    public interface MathTutor {
        @SystemMessage("You are a patient maths tutor. Explain each step briefly, then give the answer.")
        String ask(String question);
    }

    private MathTutorSample() {}

    /** The tutor over a chat model, remembering the last {@code 10} messages of the conversation. */
    public static MathTutor tutor(ChatModel model, ChatMemory memory) {
        return AiServices.builder(MathTutor.class)
                .chatModel(requireNonNull(model, "model is null"))
                .chatMemory(requireNonNull(memory, "memory is null"))
                .build();
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        Path config = args.length > 0 ? Path.of(args[0]) : DEFAULT_CONFIG;
        List<String> questions = args.length > 1 ? Arrays.asList(args).subList(1, args.length) : DEFAULT_QUESTIONS;
        if (!Files.isRegularFile(config)) {
            err.println("error: fusion config " + config.toAbsolutePath() + " not found; give the path of a fusion YAML "
                    + "config (as for 'cool-fusion eval') as the first argument"
                    + (args.length == 0 ? " (the default, models/fusion.yaml, holds the bundled demo models once built)" : ""));
            return 1;
        }
        try (CoolFusionChatModel model = CoolFusionChatModel.builder().config(config).build()) {
            MathTutor tutor = tutor(model, MessageWindowChatMemory.withMaxMessages(10));
            for (String question : questions) {
                out.println("you:   " + question);
                out.println("tutor: " + tutor.ask(question));
            }
            return 0;
        } catch (FusionException | IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
    }
}
