package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * The paper's Rerank baseline, for any {@link SourceModel}s: every candidate answer (for example each source's own
 * greedy answer) is scored by every scorer in its own tokenization as a continuation of the prompt, and the
 * given {@link RerankMetric} picks the winner.
 *
 * <p>A candidate is a <em>complete</em> answer, so by default each scorer also scores what ends it (an
 * {@link Ending}): the stop string that ended the generation (the few-shot format's blank line) or the scorer's own
 * end-of-sequence token. Without it a scorer is never asked whether the answer may stop there, and an answer cut
 * short or run on costs nothing.
 */
public final class Rerank {
    /** The winner and every candidate's score (lower is better), with the evidence the metric saw. */
    public record Choice(int index, double[] scores, List<CandidateEvidence> evidence) {
        public Choice {
            evidence = List.copyOf(evidence);
        }
    }

    /**
     * What each scorer scores after every candidate.
     *
     * @param suffix        text appended to every candidate before each scorer tokenizes it (e.g. a stop string);
     *                      the metric sees it as part of the candidate text
     * @param endOfSequence whether each scorer's own end-of-sequence token (if it has one) is scored after it
     */
    public record Ending(String suffix, boolean endOfSequence) {
        /** Nothing: the candidate's own tokens only (the answer might go on). */
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

    private Rerank() {}

    /** Scores candidates without an ending (their own tokens only). */
    public static Choice choose(String prompt, List<String> candidates, List<SourceModel> scorers, RerankMetric metric) {
        return choose(prompt, candidates, scorers, metric, Ending.NONE);
    }

    public static Choice choose(String prompt, List<String> candidates, List<SourceModel> scorers, RerankMetric metric,
            Ending ending) {
        requireNonNull(ending, "ending is null");
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("no candidates to rerank");
        }
        List<List<ModelLogProbs>> byCandidate = new ArrayList<>();
        for (int c = 0; c < candidates.size(); c++) {
            byCandidate.add(new ArrayList<>());
        }
        for (SourceModel model : scorers) {
            List<List<Integer>> ids = new ArrayList<>();
            for (String c : candidates) {
                List<Integer> tokens = new ArrayList<>(model.codec().encodeContinuation(c + ending.suffix()).ids());
                if (ending.endOfSequence()) {
                    model.codec().primaryEndOfSequenceId().ifPresent(tokens::add);
                }
                ids.add(tokens);
            }
            StateHandle state = model.open(model.codec().encodePrompt(prompt));
            List<StateHandle> handles = new ArrayList<>();
            handles.add(state);
            try {
                List<ScoredTokens> scored = model.score(state, ids);
                for (int c = 0; c < candidates.size(); c++) {
                    handles.add(scored.get(c).state());
                    byCandidate.get(c).add(new ModelLogProbs(model.name(), scored.get(c).logProbs()));
                }
            } finally {
                model.release(handles);
            }
        }
        List<CandidateEvidence> evidence = new ArrayList<>();
        for (int c = 0; c < candidates.size(); c++) {
            evidence.add(new CandidateEvidence(candidates.get(c) + ending.suffix(), ending.endOfSequence(),
                    byCandidate.get(c)));
        }
        return new Choice(metric.select(evidence), metric.score(evidence), evidence);
    }
}
