package dev.coolfusion.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.core.CandidateTrace;
import dev.coolfusion.core.DroppedSource;
import dev.coolfusion.core.StepTrace;
import java.util.List;
import java.util.Map;

/**
 * The fusion's trace as the {@code "cool_fusion"} extension field of every response: one segment per fused step that
 * added text.
 *
 * <pre>{@code
 * {"text": " 35", "winner": "C", "proposers": ["B", "C"], "scores": {"A": 1.8, "B": 1.2, "C": 1.1}, "score": 1.37,
 *  "step": 4, "candidates": [{"text", "proposers", "scores", "score", "end_of_sequence", "won"}, ...]}
 * }</pre>
 *
 * {@code text} is what the step added to the answer (the segments' texts concatenate exactly to it; a possible stop
 * string is held back until decided, so a step can add less than its winner, or text an earlier step won);
 * {@code winner} is the first source that proposed the winning candidate, {@code proposers} all who did;
 * {@code scores} is every model's value of the winner under the fusion's rerank metric (perplexity for
 * {@code avg-ppl}; null where a model has none) and {@code score} the metric's score (lower wins). Text completions
 * add {@code index}, the choice. A step in which the fault policy {@code on-source-failure: drop} left a source out
 * adds {@code "dropped": [{"source", "step", "phase", "reason", "release_error"}]}, and the response's {@code
 * cool_fusion} object lists every dropped source of the generation the same way (empty when none failed; for text
 * completions each entry adds {@code index}).
 */
final class Traces {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private Traces() {}

    /** The segment of {@code step}, whose visible text is {@code text}; {@code choice} is null for chat. */
    static ObjectNode segment(StepTrace step, Integer choice) {
        ObjectNode s = JSON.objectNode();
        if (choice != null) {
            s.put("index", choice);
        }
        CandidateTrace won = step.winningCandidate();
        s.put("text", step.emitted());
        s.put("winner", won.proposers().isEmpty() ? null : won.proposers().get(0));
        ArrayNode proposers = s.putArray("proposers");
        won.proposers().forEach(proposers::add);
        s.set("scores", scores(won.modelScores()));
        putNumber(s, "score", won.score());
        s.put("step", step.index());
        if (!step.dropped().isEmpty()) {
            s.set("dropped", dropped(step.dropped(), choice));
        }
        ArrayNode candidates = s.putArray("candidates");
        for (int i = 0; i < step.candidates().size(); i++) {
            CandidateTrace c = step.candidates().get(i);
            ObjectNode o = candidates.addObject();
            o.put("text", c.text());
            ArrayNode by = o.putArray("proposers");
            c.proposers().forEach(by::add);
            o.set("scores", scores(c.modelScores()));
            putNumber(o, "score", c.score());
            o.put("end_of_sequence", c.endOfSequence());
            o.put("won", i == step.winner());
        }
        return s;
    }

    /** The dropped sources as JSON; {@code choice} (null for chat) is added as {@code index}. */
    static ArrayNode dropped(List<DroppedSource> dropped, Integer choice) {
        ArrayNode out = JSON.arrayNode();
        addDropped(out, dropped, choice);
        return out;
    }

    static void addDropped(ArrayNode out, List<DroppedSource> dropped, Integer choice) {
        for (DroppedSource d : dropped) {
            ObjectNode o = out.addObject();
            if (choice != null) {
                o.put("index", choice);
            }
            o.put("source", d.source());
            o.put("step", d.step());
            o.put("phase", d.phase());
            o.put("reason", d.reason());
            o.put("release_error", d.releaseError().orElse(null));
        }
    }

    private static ObjectNode scores(Map<String, Double> scores) {
        ObjectNode o = JSON.objectNode();
        scores.forEach((model, value) -> putNumber(o, model, value));
        return o;
    }

    /** JSON has no NaN or infinity: those are null. */
    private static void putNumber(ObjectNode o, String field, double value) {
        if (Double.isFinite(value)) {
            o.put(field, value);
        } else {
            o.putNull(field);
        }
    }
}
