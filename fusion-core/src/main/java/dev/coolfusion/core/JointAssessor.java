package dev.coolfusion.core;

import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

/**
 * M3, joint assessment: one source scores every candidate in its own tokenization, in context (as a continuation
 * of its committed state), with a single batched {@code score} call ({@link FusionOptions#batchScoring()}; off, one
 * call per candidate). A candidate the source proposed itself, whose generated tokens are exactly its own
 * tokenization of the segment, reuses the log-probs and state from generation instead (the paper's optimisation 4;
 * {@link FusionOptions#reuseProposerLogProbs()}). A proposer-only source ({@link
 * dev.coolfusion.spi.SourceModel#canScore()} false) scores nothing: it keeps the state of its own proposal where
 * that is reusable, and M4 appends any other winner to its state.
 */
final class JointAssessor {
    private final boolean reuseOwn;
    private final boolean batch;

    JointAssessor(FusionOptions options) {
        this.reuseOwn = options.reuseProposerLogProbs();
        this.batch = options.batchScoring();
    }

    /**
     * One source's view of all candidates. {@code states[c]} is null when the candidate adds no tokens, or, for a
     * source that does not score ({@code scored} false, {@code logProbs} then empty lists), when M4 must append it.
     */
    record Assessment(List<List<Integer>> ids, List<List<Double>> logProbs, List<StateHandle> states, boolean scored) {}

    /**
     * The tokens {@code session}'s source scores for {@code candidate}: its own tokenization of the text, then (for an
     * ending candidate) its end-of-sequence id, the one it generated itself if it proposed the candidate.
     */
    static List<Integer> ids(SourceSession session, Candidate candidate, Proposal ownProposal) {
        List<Integer> candidateIds = new ArrayList<>(session.codec.encodeContinuation(candidate.text()).ids());
        if (candidate.endOfSequence()) {
            OptionalInt eos = session.codec.primaryEndOfSequenceId();
            if (ownProposal != null && ownProposal.endOfSequence() && candidate.proposers().contains(session.index)) {
                eos = OptionalInt.of(ownProposal.tokens().get(ownProposal.tokens().size() - 1));
            }
            eos.ifPresent(candidateIds::add);
        }
        return List.copyOf(candidateIds);
    }

    /** Scores {@code candidates}, whose tokens in this source ({@link #ids}) are {@code ids}. */
    Assessment assess(SourceSession session, List<Candidate> candidates, Proposal ownProposal, List<List<Integer>> ids) {
        int k = candidates.size();
        List<Double>[] logProbs = newArray(k);
        StateHandle[] states = new StateHandle[k];
        boolean scores = session.model.canScore();
        List<List<Integer>> toScore = new ArrayList<>();
        List<Integer> toScoreIndex = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            Candidate candidate = candidates.get(c);
            List<Integer> candidateIds = ids.get(c);
            if ((reuseOwn || !scores) && reusable(ownProposal, candidate, session.index, candidateIds)) {
                int n = candidateIds.size();
                logProbs[c] = scores ? ownProposal.logProbs().subList(0, n) : List.of();
                states[c] = ownProposal.states().get(n - 1);
            } else if (candidateIds.isEmpty() || !scores) {
                logProbs[c] = List.of();
            } else {
                toScore.add(candidateIds);
                toScoreIndex.add(c);
            }
        }
        if (!toScore.isEmpty()) {
            List<ScoredTokens> scored = score(session, toScore);
            if (scored.size() != toScore.size()) {
                throw new IllegalStateException("score returned " + scored.size() + " results for " + toScore.size() + " candidates");
            }
            for (int i = 0; i < scored.size(); i++) {
                ScoredTokens result = scored.get(i);
                if (batch) {
                    session.stepStates.add(result.state()); // one call at a time records each as it comes
                }
                int c = toScoreIndex.get(i);
                if (result.logProbs().size() != toScore.get(i).size()) {
                    throw new IllegalStateException("score returned " + result.logProbs().size() + " log-probs for "
                            + toScore.get(i).size() + " tokens");
                }
                logProbs[c] = result.logProbs();
                states[c] = result.state();
            }
        }
        return new Assessment(List.copyOf(ids), List.of(logProbs), Arrays.asList(states), scores);
    }

    /** One batched call, or (without {@link FusionOptions#batchScoring()}) one call per candidate. */
    private List<ScoredTokens> score(SourceSession session, List<List<Integer>> toScore) {
        if (batch) {
            return session.model.score(session.committed, toScore);
        }
        List<ScoredTokens> out = new ArrayList<>(toScore.size());
        for (List<Integer> candidate : toScore) {
            List<ScoredTokens> one = session.model.score(session.committed, List.of(candidate));
            if (one.size() != 1) {
                throw new IllegalStateException("score returned " + one.size() + " results for 1 candidate");
            }
            session.stepStates.add(one.get(0).state());
            out.add(one.get(0));
        }
        return out;
    }

    private static boolean reusable(Proposal own, Candidate candidate, int source, List<Integer> ids) {
        return own != null
                && candidate.proposers().contains(source)
                && own.text().equals(candidate.text())
                && own.endOfSequence() == candidate.endOfSequence()
                && own.segmentTokens() == ids.size()
                && !ids.isEmpty()
                && own.tokens().subList(0, ids.size()).equals(ids);
    }

    @SuppressWarnings("unchecked")
    private static List<Double>[] newArray(int k) {
        return (List<Double>[]) new List<?>[k];
    }
}
