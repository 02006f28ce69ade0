package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;

/**
 * Few-shot prompts in the chain-of-thought format of the paper's GSM8K setup:
 * {@code "Question: …\nAnswer: <steps> The answer is N.\n\n"} per exemplar, then {@code "Question: …\nAnswer:"}.
 *
 * <p>Exemplars come from a fixed source that is never evaluated: the first items of a GSM8K file (for GSM8K: its
 * train split; for the bundled models: {@code models/shots.jsonl}), or any list of shots a caller gives.
 */
public final class FewShot {
    /** One exemplar. */
    public record Shot(String question, String solution) {}

    private final List<Shot> shots;

    public FewShot(List<Shot> shots) {
        this.shots = List.copyOf(requireNonNull(shots, "shots is null"));
    }

    /** The first {@code k} items of a GSM8K file as exemplars. */
    public static FewShot fromItems(List<GsmItem> items, int k) {
        if (k > items.size()) {
            throw new IllegalArgumentException("asked for " + k + " shots but the shots file has " + items.size() + " items");
        }
        List<Shot> out = new ArrayList<>();
        for (GsmItem item : items.subList(0, k)) {
            out.add(new Shot(item.question(), item.workedAnswer()));
        }
        return new FewShot(out);
    }

    public List<Shot> shots() {
        return shots;
    }

    /** The prompt for one question. */
    public String prompt(String question) {
        StringBuilder b = new StringBuilder();
        for (Shot s : shots) {
            b.append("Question: ").append(s.question()).append("\nAnswer: ").append(s.solution()).append("\n\n");
        }
        return b.append("Question: ").append(question.strip()).append("\nAnswer:").toString();
    }
}
