package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The paper's Rerank baseline, for any {@link SourceModel}s: every candidate answer (for example each source's own
 * greedy answer) is scored by every scorer in its own tokenization as a continuation of the prompt, and the
 * given {@link RerankMetric} picks the winner.
 *
 * <p>A candidate is a <em>complete</em> answer, so by default each scorer also scores what ends it (an
 * {@link WholeAnswers.Ending}): the stop string that ended the generation (the few-shot blank line) or the scorer's own
 * end-of-sequence token. Without it a scorer is never asked whether the answer may stop there, and an answer cut
 * short or run on costs nothing.
 */
public final class Rerank {
    /**
     * What the metric made of the candidates, with the evidence it saw.
     *
     * @param ranking  every candidate's score (lower is better) and per-scorer values, and the winner
     * @param evidence every scorer's log-probs of every candidate
     */
    public record Choice(RerankMetric.Ranking ranking, List<CandidateEvidence> evidence) {
        public Choice {
            requireNonNull(ranking, "ranking is null");
            evidence = List.copyOf(evidence);
            if (evidence.size() != ranking.size()) {
                throw new IllegalArgumentException(ranking.size() + " ranked but " + evidence.size() + " assessed");
            }
        }

        /** The winner's index. */
        public int index() {
            return ranking.winner();
        }

        /** Every candidate's score, in order (a copy). */
        public double[] scores() {
            return ranking.scores();
        }

        /** Every candidate's per-scorer values under the metric ({@link RerankMetric#modelScores}). */
        public List<Map<String, Double>> modelScores() {
            return ranking.modelScores();
        }
    }

    private Rerank() {}

    /** Scores candidates without an ending (their own tokens only). */
    public static Choice choose(String prompt, List<String> candidates, List<SourceModel> scorers, RerankMetric metric) {
        return choose(prompt, candidates, scorers, metric, WholeAnswers.Ending.NONE);
    }

    public static Choice choose(String prompt, List<String> candidates, List<SourceModel> scorers, RerankMetric metric,
            WholeAnswers.Ending ending) {
        return choose(assess(prompt, candidates, scorers, ending), metric);
    }

    /** Every scorer's log-probabilities of every candidate (followed by {@code ending}) after {@code prompt}. */
    public static List<CandidateEvidence> assess(String prompt, List<String> candidates, List<SourceModel> scorers,
            WholeAnswers.Ending ending) {
        requireNonNull(ending, "ending is null");
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("no candidates to rerank");
        }
        List<List<Integer>> prompts = new ArrayList<>();
        for (SourceModel scorer : scorers) {
            prompts.add(scorer.codec().encodePrompt(prompt));
        }
        return WholeAnswers.assess(scorers, prompts, candidates, ending);
    }

    /** Picks among candidates already assessed, scoring each once. */
    public static Choice choose(List<CandidateEvidence> evidence, RerankMetric metric) {
        return new Choice(metric.rank(evidence), evidence);
    }
}
