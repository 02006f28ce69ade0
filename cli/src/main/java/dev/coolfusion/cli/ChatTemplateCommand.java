package dev.coolfusion.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.template.ChatTemplateRenderer;
import dev.coolfusion.hf.HfModelFiles;
import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Prints a conversation rendered with a model's chat template, exactly as Hugging Face's
 * {@code tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)} renders it.
 */
@Command(name = "chat-template",
        description = {"Render a conversation with a model's chat template, as Hugging Face's",
                "apply_chat_template(messages, tokenize=False, add_generation_prompt=True) does.",
                "Prints exactly the rendered text (no newline is added)."})
final class ChatTemplateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--tokenizer-config", required = true, paramLabel = "FILE",
            description = "the model's tokenizer_config.json (or its folder); a chat_template.jinja beside it wins")
    Path tokenizerConfig;

    @Option(names = "--messages", required = true, paramLabel = "FILE",
            description = "JSON list of messages: [{\"role\": \"system\"|\"user\"|\"assistant\", \"content\": \"...\"}, ...]")
    Path messages;

    @Option(names = "--no-generation-prompt", description = "do not append the header that starts the assistant's turn")
    boolean noGenerationPrompt;

    @Option(names = "--template-name", paramLabel = "NAME",
            description = "which of several named templates to use (default: 'default')")
    String templateName;

    @Override
    public Integer call() {
        ChatTemplate template = HfModelFiles.fromTokenizerConfig(tokenizerConfig, templateName)
                .orElseThrow(() -> new FusionException(tokenizerConfig + " has no chat_template (and no chat_template.jinja "
                        + "beside it); Hugging Face cannot render a chat for this tokenizer either"));
        String rendered = ChatTemplateRenderer.of(template).render(readMessages(messages), !noGenerationPrompt, Map.of());
        PrintWriter out = spec.commandLine().getOut();
        out.print(rendered);
        out.flush();
        return 0;
    }

    /** Reads {@code [{"role": ..., "content": ...}, ...]}; other keys of a message are passed to the template too. */
    static List<Map<String, Object>> readMessages(Path file) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new FusionException("cannot read messages file " + file.toAbsolutePath() + ": no such readable file");
        }
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new FusionException("cannot parse messages file " + file + ": " + e.getOriginalMessage()
                    + " (line " + e.getLocation().getLineNr() + ")", e);
        } catch (IOException e) {
            throw new FusionException("cannot read messages file " + file + ": " + e.getMessage(), e);
        }
        if (root == null || !root.isArray()) {
            throw new FusionException("messages file " + file + " must hold a JSON list of {\"role\": ..., \"content\": ...}");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < root.size(); i++) {
            JsonNode m = root.get(i);
            if (!m.isObject() || !m.path("role").isTextual() || !m.has("content")) {
                throw new FusionException("messages file " + file + ": message " + i
                        + " must be an object with a string 'role' and a 'content'");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> map = JSON.convertValue(m, LinkedHashMap.class);
            out.add(map);
        }
        return out;
    }
}
