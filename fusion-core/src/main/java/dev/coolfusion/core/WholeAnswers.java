package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;

/**
 * Joint assessment of whole answers, the input of the paper's Rerank baseline: every scorer opens its own prompt
 * and scores every answer, in its own tokenization, in one batched call. A complete answer is followed by what ends
 * it (an {@link Ending}: a stop string, or each scorer's end-of-sequence token), so that the scorers also judge where
 * it stops; without it an answer cut short or run on costs nothing. Every state is released before this returns.
 * A prompt with an answer that does not fit a scorer's context is a {@link ContextLengthExceededException}, before
 * any model work.
 */
public final class WholeAnswers {
    private WholeAnswers() {}

    /**
     * What each scorer scores after every answer.
     *
     * @param suffix        text appended to every answer before each scorer tokenizes it (e.g. a stop string); the
     *                      metric sees it as part of the candidate text
     * @param endOfSequence whether each scorer's own end-of-sequence token (if it has one) is scored after it
     */
    public record Ending(String suffix, boolean endOfSequence) {
        /** Nothing: the answer's own tokens only (the answer might go on). */
        public static final Ending NONE = new Ending("", false);
        /** Each scorer's end-of-sequence token. */
        public static final Ending EOS = new Ending("", true);

        public Ending {
            requireNonNull(suffix, "suffix is null");
        }

        /** The given stop string, as each scorer tokenizes it after the answer. */
        public static Ending stop(String stop) {
            return new Ending(stop, false);
        }

        /** What ends a generation under these options: the first stop string, else end-of-sequence. */
        public static Ending of(FusionOptions options) {
            return options.stopStrings().isEmpty() ? EOS : stop(options.stopStrings().get(0));
        }
    }

    /** What a scorer with {@code codec} scores for {@code answer}: its tokens, then the ending's. */
    public static List<Integer> tokens(TextCodec codec, String answer, Ending ending) {
        requireNonNull(codec, "codec is null");
        requireNonNull(answer, "answer is null");
        requireNonNull(ending, "ending is null");
        List<Integer> ids = new ArrayList<>(codec.encodeContinuation(answer + ending.suffix()).ids());
        if (ending.endOfSequence()) {
            codec.primaryEndOfSequenceId().ifPresent(ids::add);
        }
        return ids;
    }

    /**
     * @param scorers      the scoring models
     * @param promptTokens one prompt per scorer, tokenized by that scorer's codec (e.g. its chat template)
     * @param answers      the candidate answers
     * @param ending       what each scorer scores after every answer
     * @return one evidence entry per answer (its text with the ending's suffix), with one {@link ModelLogProbs} per
     *         scorer that can score (proposer-only sources are left out), ready for a rerank metric
     */
    public static List<CandidateEvidence> assess(List<? extends SourceModel> scorers, List<List<Integer>> promptTokens,
            List<String> answers, Ending ending) {
        requireNonNull(ending, "ending is null");
        requireNonNull(scorers, "scorers is null");
        requireNonNull(promptTokens, "promptTokens is null");
        requireNonNull(answers, "answers is null");
        if (promptTokens.size() != scorers.size()) {
            throw new IllegalArgumentException("need one prompt per scorer: " + scorers.size() + " scorers, "
                    + promptTokens.size() + " prompts");
        }
        if (answers.isEmpty()) {
            throw new IllegalArgumentException("no answers to assess");
        }
        // A proposer-only source (canScore() false) cannot judge an answer: the others do, as in the fusion loop.
        if (scorers.stream().anyMatch(m -> !m.canScore())) {
            List<SourceModel> able = new ArrayList<>();
            List<List<Integer>> ablePrompts = new ArrayList<>();
            for (int s = 0; s < scorers.size(); s++) {
                if (scorers.get(s).canScore()) {
                    able.add(scorers.get(s));
                    ablePrompts.add(promptTokens.get(s));
                }
            }
            if (able.isEmpty()) {
                throw new IllegalArgumentException("no source can score whole answers (canScore() is false for "
                        + scorers.stream().map(SourceModel::name).toList() + "); add a source that scores");
            }
            return assess(able, ablePrompts, answers, ending);
        }
        List<List<List<Integer>>> byScorer = new ArrayList<>();
        for (int s = 0; s < scorers.size(); s++) {
            SourceModel scorer = scorers.get(s);
            List<List<Integer>> tokens = new ArrayList<>();
            for (String answer : answers) {
                tokens.add(tokens(scorer.codec(), answer, ending));
            }
            checkFits(scorer, promptTokens.get(s).size(), tokens);
            byScorer.add(tokens);
        }
        List<List<ModelLogProbs>> byAnswer = new ArrayList<>();
        answers.forEach(a -> byAnswer.add(new ArrayList<>()));
        for (int s = 0; s < scorers.size(); s++) {
            SourceModel scorer = scorers.get(s);
            List<List<Integer>> tokens = byScorer.get(s);
            List<StateHandle> states = new ArrayList<>();
            try {
                StateHandle prompt = scorer.open(promptTokens.get(s));
                states.add(prompt);
                List<ScoredTokens> scored = scorer.score(prompt, tokens);
                for (int a = 0; a < scored.size(); a++) {
                    states.add(scored.get(a).state());
                    byAnswer.get(a).add(new ModelLogProbs(scorer.name(), scored.get(a).logProbs()));
                }
            } catch (RuntimeException | Error failure) {
                // The failing call is the error to report; a release that fails after it (a dead worker) is attached.
                try {
                    scorer.release(states);
                } catch (RuntimeException cleanup) {
                    failure.addSuppressed(cleanup);
                }
                throw failure;
            }
            scorer.release(states);
        }
        List<CandidateEvidence> out = new ArrayList<>(answers.size());
        for (int a = 0; a < answers.size(); a++) {
            out.add(new CandidateEvidence(answers.get(a) + ending.suffix(), ending.endOfSequence(), byAnswer.get(a)));
        }
        return out;
    }

    private static void checkFits(SourceModel scorer, int prompt, List<List<Integer>> answers) {
        int max = scorer.maxContextTokens().orElse(Integer.MAX_VALUE);
        if (prompt > max) {
            throw new ContextLengthExceededException(scorer.name(), prompt, max, "the prompt has " + prompt
                    + " tokens for scorer '" + scorer.name() + "', more than its max context of " + max
                    + " tokens; shorten the prompt (nothing is truncated)");
        }
        for (int a = 0; a < answers.size(); a++) {
            int total = prompt + answers.get(a).size();
            if (total > max) {
                throw new ContextLengthExceededException(scorer.name(), total, max, "answer " + a + " ("
                        + answers.get(a).size() + " tokens) after the " + prompt + "-token prompt does not fit the max "
                        + "context of " + max + " tokens of scorer '" + scorer.name() + "' (nothing is truncated)");
            }
        }
    }
}
