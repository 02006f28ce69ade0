package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

/**
 * One GSM8K-format item.
 *
 * @param line     1-based line number in its file
 * @param question the question
 * @param answer   the reference answer text (worked solution, then {@code #### N})
 * @param gold     the number after {@code ####}, normalised by {@link Answers#normalize}
 */
public record GsmItem(int line, String question, String answer, String gold) {
    public GsmItem {
        requireNonNull(question, "question is null");
        requireNonNull(answer, "answer is null");
        requireNonNull(gold, "gold is null");
    }

    /** The worked solution without the {@code ####} line and without calculator annotations {@code <<…>>}. */
    public String solution() {
        int cut = answer.indexOf("####");
        String steps = (cut >= 0 ? answer.substring(0, cut) : answer).replaceAll("<<[^>]*>>", "");
        return steps.strip().replaceAll("\\s*\\n\\s*", " ");
    }

    /** The reference answer in the few-shot format: the worked solution, then {@code "The answer is N."}. */
    public String workedAnswer() {
        return solution() + " The answer is " + gold + ".";
    }
}
