package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Optional;

/**
 * The record of one fused step: every candidate, who proposed it, how each model scored it, and which won.
 *
 * @param index        0-based step number
 * <p>A candidate that does not fit every source's context is left out of its step. When none fits, the generation
 * ends with a last step ({@link FinishReason#LENGTH}) whose only candidate is empty, proposed by nobody, scored NaN
 * and adds no text: it emits what was still held back.
 *
 * @param candidates   distinct candidates in the order of their first proposer
 * @param winner       index into {@code candidates}
 * @param emitted      the text this step added to the visible output; it can be shorter than the winner's text (a
 *                     limit or stop string cut it, or a possible stop string is held back until it is decided).
 *                     The {@code emitted} texts of all steps concatenate exactly to the final text.
 * @param finish       set on the last step
 * @param elapsedNanos wall time of the step
 * @param dropped      the sources {@link SourceFailurePolicy#DROP} left out in this step (empty when none failed);
 *                     {@link Generation#dropped()} has all of a generation's
 */
public record StepTrace(
        int index,
        List<CandidateTrace> candidates,
        int winner,
        String emitted,
        Optional<FinishReason> finish,
        long elapsedNanos,
        List<DroppedSource> dropped) {
    public StepTrace {
        dropped = List.copyOf(requireNonNull(dropped, "dropped is null"));
        candidates = List.copyOf(requireNonNull(candidates, "candidates is null"));
        requireNonNull(emitted, "emitted is null");
        requireNonNull(finish, "finish is null");
        if (winner < 0 || winner >= candidates.size()) {
            throw new IllegalArgumentException("winner " + winner + " out of range for " + candidates.size() + " candidates");
        }
    }

    public CandidateTrace winningCandidate() {
        return candidates.get(winner);
    }
}
