package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import java.util.ArrayList;
import java.util.List;

/** Log-probabilities of given tokens after a given context: what {@code cool-fusion score} reports. */
public final class ModelScorer {
    private ModelScorer() {}

    /**
     * One scored token.
     *
     * @param id      token id
     * @param text    the token's text (its decoded continuation)
     * @param logProb natural-log probability given the context and the tokens before it
     */
    public record TokenScore(int id, String text, double logProb) {
        public TokenScore {
            requireNonNull(text, "text is null");
        }
    }

    /**
     * The scored continuation.
     *
     * @param contextTokens how many context tokens the model saw
     * @param tokens        each continuation token with its log-prob
     */
    public record Scores(int contextTokens, List<TokenScore> tokens) {
        public Scores {
            tokens = List.copyOf(requireNonNull(tokens, "tokens is null"));
        }

        public double totalLogProb() {
            return tokens.stream().mapToDouble(TokenScore::logProb).sum();
        }

        /** exp(mean negative log-likelihood); NaN without tokens. */
        public double perplexity() {
            return tokens.isEmpty() ? Double.NaN : Math.exp(-totalLogProb() / tokens.size());
        }
    }

    /** Each token's log-prob given {@code context} (non-empty, special tokens included) and the tokens before it. */
    public static List<Double> logProbs(SourceModel model, List<Integer> context, List<Integer> tokens) {
        requireNonNull(model, "model is null");
        requireNonNull(context, "context is null");
        requireNonNull(tokens, "tokens is null");
        if (context.isEmpty()) {
            throw new FusionException("the context needs at least one token (e.g. the model's begin-of-sequence id)");
        }
        StateHandle state = model.open(context);
        List<StateHandle> handles = new ArrayList<>(List.of(state));
        try {
            ScoredTokens scored = model.score(state, List.of(tokens)).get(0);
            handles.add(scored.state());
            return scored.logProbs();
        } finally {
            model.release(handles);
        }
    }

    /**
     * Scores {@code continuation} after {@code context} as texts: the context is tokenized as a prompt (with the
     * begin-of-sequence id, if any), the continuation as text that follows it.
     */
    public static Scores scoreText(SourceModel model, String context, String continuation) {
        requireNonNull(model, "model is null");
        requireNonNull(context, "context is null");
        requireNonNull(continuation, "continuation is null");
        List<Integer> ctx = model.codec().encodePrompt(context);
        if (ctx.isEmpty()) {
            throw new FusionException(model.name() + ": the context encodes to no tokens and the model has no"
                    + " begin-of-sequence id; give a non-empty context");
        }
        List<Integer> ids = model.codec().encodeContinuation(continuation).ids();
        List<Double> lps = logProbs(model, ctx, ids);
        List<TokenScore> out = new ArrayList<>(ids.size());
        for (int i = 0; i < ids.size(); i++) {
            out.add(new TokenScore(ids.get(i), model.codec().decodeContinuation(List.of(ids.get(i))), lps.get(i)));
        }
        return new Scores(ctx.size(), out);
    }
}
