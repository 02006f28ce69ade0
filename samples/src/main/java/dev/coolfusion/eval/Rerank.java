package dev.coolfusion.eval;

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
 * {@link RerankMetric} (average perplexity, Eq. 3, by default) picks the winner.
 */
public final class Rerank {
    /** The winner and every candidate's score (lower is better). */
    public record Choice(int index, double[] scores) {}

    private Rerank() {}

    public static Choice choose(String prompt, List<String> candidates, List<SourceModel> scorers, RerankMetric metric) {
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
                ids.add(model.codec().encodeContinuation(c).ids());
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
            evidence.add(new CandidateEvidence(candidates.get(c), false, byCandidate.get(c)));
        }
        return new Choice(metric.select(evidence), metric.score(evidence));
    }
}
