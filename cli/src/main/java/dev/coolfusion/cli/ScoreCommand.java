package dev.coolfusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.djl.model.ModelScorer;
import dev.coolfusion.spi.TextCodec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Prints how surprised one model is by each token of a text. */
@Command(name = "score", description = "Print each token's log-probability under one model, then the total NLL and "
        + "the perplexity. With --ids the tokenizer is skipped and the first id has no log-probability.")
final class ScoreCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "<dir>", description = "A Hugging Face model folder.")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @ArgGroup(exclusive = false)
        TextInput text;

        @Option(names = "--ids", split = ",", paramLabel = "<id>", description = "Comma-separated token ids.")
        List<Integer> ids;
    }

    static final class TextInput {
        @Option(names = "--text", required = true, description = "The text to score, as a continuation of --context.")
        String text;

        @Option(names = "--context", defaultValue = "", description = "Text before --text, tokenized as a prompt "
                + "(with the model's begin-of-sequence token, if its tokenizer adds one).")
        String context;
    }

    @CommandLine.Mixin
    DjlModelOptionsMixin runtime;

    @Option(names = "--json", description = "Print one JSON document: ids, tokens, logprobs, nll, ppl (and top).")
    boolean json;

    @Option(names = "--top", paramLabel = "<k>", defaultValue = "0", description = "Also print, for each scored token,"
            + " the k tokens the model found most likely at its position, with their log-probabilities (default 0:"
            + " none).")
    int top;

    @Override
    public Integer call() throws Exception {
        if (input.ids != null && input.ids.size() < 2) {
            // One id alone has nothing to score: the total would be 0 over 0 tokens and the perplexity NaN.
            throw new IllegalArgumentException("--ids needs at least two ids: the first has no log-probability"
                    + " (the others are scored after it), e.g. --ids 1,112,59");
        }
        if (top < 0) {
            throw new IllegalArgumentException("--top must be at least 0, got " + top);
        }
        DjlModelOptions options = runtime.builder().build();
        try (DjlSourceModel m = DjlSourceModel.load(model, options)) {
            List<Integer> ids = new ArrayList<>();
            List<Double> logProbs = new ArrayList<>();
            List<Integer> sequence = new ArrayList<>(); // what the model reads: the context (or first id) and the rest
            int firstScored; // the index in sequence of the first scored token
            if (input.ids != null) {
                sequence.addAll(input.ids);
                firstScored = 1;
                ids.addAll(input.ids);
                logProbs.add(null);
                if (ids.size() > 1) {
                    logProbs.addAll(ModelScorer.logProbs(m, ids.subList(0, 1), ids.subList(1, ids.size())));
                }
            } else {
                if (input.text.text.isEmpty()) {
                    throw new IllegalArgumentException("--text is empty: give the text to score");
                }
                ModelScorer.Scores scores = ModelScorer.scoreText(m, input.text.context, input.text.text);
                scores.tokens().forEach(t -> {
                    ids.add(t.id());
                    logProbs.add(t.logProb());
                });
                sequence.addAll(m.codec().encodePrompt(input.text.context));
                firstScored = sequence.size();
                sequence.addAll(ids);
            }
            List<String> tokens = new ArrayList<>();
            TextCodec codec = m.codec();
            for (int id : ids) {
                tokens.add(codec instanceof HfTextCodec hf ? hf.tokenText(id) : codec.decodeContinuation(List.of(id)));
            }
            double nll = 0;
            int n = 0;
            for (Double lp : logProbs) {
                if (lp != null) {
                    nll -= lp;
                    n++;
                }
            }
            double ppl = n == 0 ? Double.NaN : Math.exp(nll / n);
            // The k most likely tokens at each scored position (null where nothing is scored), from one forward.
            List<List<Alternative>> alternatives = new ArrayList<>();
            if (top > 0) {
                float[][] rows = m.sequenceLogProbs(sequence);
                int offset = sequence.size() - ids.size();
                for (int i = 0; i < ids.size(); i++) {
                    int position = offset + i; // the index of ids[i] in sequence
                    alternatives.add(position < firstScored ? null : topK(rows[position - 1], top, codec));
                }
            }
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("ids", ids);
                doc.put("tokens", tokens);
                doc.put("logprobs", logProbs);
                doc.put("nll", nll);
                doc.put("ppl", n == 0 ? null : ppl);
                if (top > 0) {
                    doc.put("top", alternatives);
                }
                out.println(new ObjectMapper().writeValueAsString(doc));
            } else {
                out.printf(Locale.ROOT, "%-8s %-20s %s%n", "id", "token", "logprob");
                for (int i = 0; i < ids.size(); i++) {
                    Double lp = logProbs.get(i);
                    out.printf(Locale.ROOT, "%-8d %-20s %s%s%n", ids.get(i), quote(tokens.get(i)),
                            lp == null ? "-" : String.format(Locale.ROOT, "%.6f", lp),
                            top > 0 && alternatives.get(i) != null ? "   top: " + describe(alternatives.get(i)) : "");
                }
                out.printf(Locale.ROOT, "nll %.6f over %d tokens, ppl %.4f%n", nll, n, ppl);
            }
            out.flush();
            return 0;
        }
    }

    /**
     * One of the most likely tokens at a position.
     *
     * @param id      token id
     * @param token   its text
     * @param logprob its log-probability there
     */
    record Alternative(int id, String token, double logprob) {}

    /** The {@code k} highest log-probabilities of {@code row}, highest first (ties: lower id first). */
    private static List<Alternative> topK(float[] row, int k, TextCodec codec) {
        List<Integer> order = new ArrayList<>();
        for (int v = 0; v < row.length; v++) {
            order.add(v);
        }
        order.sort((a, b) -> row[a] != row[b] ? Float.compare(row[b], row[a]) : Integer.compare(a, b));
        List<Alternative> out = new ArrayList<>();
        for (int v : order.subList(0, Math.min(k, row.length))) {
            out.add(new Alternative(v, codec instanceof HfTextCodec hf ? hf.tokenText(v)
                    : codec.decodeContinuation(List.of(v)), row[v]));
        }
        return out;
    }

    private static String describe(List<Alternative> alternatives) {
        List<String> parts = new ArrayList<>();
        for (Alternative a : alternatives) {
            parts.add(quote(a.token()) + String.format(Locale.ROOT, " %.4f", a.logprob()));
        }
        return String.join(", ", parts);
    }

    private static String quote(String s) {
        return "\"" + s.replace("\n", "\\n").replace("\t", "\\t") + "\"";
    }
}
