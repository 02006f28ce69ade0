package dev.coolfusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.coolfusion.segment.SegmentAligner;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.Span;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Shows how each tokenizer splits a text into tokens and words, and where they agree. */
@Command(
        name = "boundaries",
        description = "Show each tokenizer's tokens and words for a text, the offsets where all of them have a word "
                + "boundary, and the segment T1 would accept if the first tokenizer's model had generated the text after "
                + "the context. Offsets count Java chars of --text. The text follows the context verbatim; a space before "
                + "a word belongs to that word, so give it in --text (--text \" not the\").")
final class BoundariesCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--tokenizer", required = true, paramLabel = "<tokenizer.json|model dir>",
            description = "A Hugging Face tokenizer.json or a folder that has one; repeat for each model.")
    List<Path> tokenizers;

    @Option(names = "--context", defaultValue = "", description = "Text before --text (default: none, the start of a document).")
    String context;

    @Option(names = "--text", required = true, description = "The generated text to inspect.")
    String text;

    @Option(names = "--json", description = "Print one JSON document.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (text.isEmpty()) {
            throw new IllegalArgumentException("--text is empty: give the text a model generated, e.g. --text \"Multi-tasking is hard.\"");
        }
        boolean continuation = !context.isEmpty();
        List<HfTextCodec> codecs = new ArrayList<>();
        try {
            for (Path path : tokenizers) {
                codecs.add(HfTextCodec.load(path));
            }
            List<Encoded> encodings = new ArrayList<>();
            for (HfTextCodec codec : codecs) {
                encodings.add(continuation ? codec.encodeContinuation(text) : codec.encode(text));
            }
            TreeSet<Integer> common = SegmentAligner.commonBoundaries(encodings);
            HfTextCodec first = codecs.get(0);
            Optional<String> segment = new SegmentAligner(List.copyOf(codecs))
                    .firstSegment(first, encodings.get(0).ids(), continuation, SegmentChoice.SHORTEST);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(toJson(encodings, common, segment.orElse(null)));
            } else {
                printText(out, encodings, common, segment);
            }
            out.flush();
            return 0;
        } finally {
            codecs.forEach(HfTextCodec::close);
        }
    }

    private String toJson(List<Encoded> encodings, TreeSet<Integer> common, String segment) throws Exception {
        List<Map<String, Object>> list = new ArrayList<>();
        for (int i = 0; i < encodings.size(); i++) {
            Encoded e = encodings.get(i);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("path", tokenizers.get(i).toString());
            m.put("ids", e.ids());
            m.put("tokens", e.tokens());
            m.put("words", e.words().stream().map(s -> List.of(s.start(), s.end())).toList());
            list.add(m);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("tokenizers", list);
        doc.put("common_boundaries", List.copyOf(common));
        doc.put("segment", segment);
        return new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(doc);
    }

    private void printText(PrintWriter out, List<Encoded> encodings, TreeSet<Integer> common, Optional<String> segment) {
        if (!context.isEmpty()) {
            out.println("context: " + quote(context));
        }
        out.println("text:    " + quote(text));
        for (int i = 0; i < encodings.size(); i++) {
            Encoded e = encodings.get(i);
            out.println();
            out.println("tokenizer " + (i + 1) + ": " + tokenizers.get(i));
            StringBuilder tokens = new StringBuilder("  tokens: ");
            for (int t = 0; t < e.ids().size(); t++) {
                tokens.append(e.tokens().get(t)).append('(').append(e.ids().get(t)).append(") ");
            }
            out.println(tokens.toString().stripTrailing());
            StringBuilder words = new StringBuilder("  words:  ");
            for (Span w : e.words()) {
                words.append(quote(text.substring(w.start(), w.end()))).append('@').append(w.start()).append(' ');
            }
            out.println(words.toString().stripTrailing());
        }
        out.println();
        out.println("common boundaries: " + common + "  (ends of words, the last word excluded)");
        out.println("segment:           " + segment.map(BoundariesCommand::quote)
                .orElse("(none yet: T1 would generate another token)"));
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
                .replace("\"", "\\\"") + "\"";
    }
}
