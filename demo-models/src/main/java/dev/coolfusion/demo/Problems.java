package dev.coolfusion.demo;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Generates grade-school arithmetic word problems with worked solutions in the GSM8K style, from templates only (no
 * third-party text). Three families: {@link Family#ADD} (addition and subtraction, one or two steps),
 * {@link Family#MUL} (multiplication and division, one step) and {@link Family#MIX} (a multiplication or division
 * step followed by an addition or subtraction step, or the other way round).
 *
 * <p>Everything is a pure function of the seed. {@link #canonical} is the key used to keep held-out questions out of
 * the training data.
 */
public final class Problems {

    /** The operation families. */
    public enum Family { ADD, MUL, MIX }

    /**
     * One problem.
     *
     * @param family   its family
     * @param question the question text
     * @param steps    the worked solution, e.g. {@code "3 * 12 = 36. 36 - 7 = 29."}
     * @param answer   the final number
     */
    public record Problem(Family family, String question, String steps, long answer) {
        /** {@code "Question: …\nAnswer: … The answer is N."} */
        public String text() {
            return "Question: " + question + "\nAnswer: " + solution();
        }

        /** The worked solution with the closing sentence. */
        public String solution() {
            return steps + " The answer is " + answer + ".";
        }

        /** The GSM8K answer field: the steps, then {@code "#### N"}. */
        public String gsmAnswer() {
            return steps + "\n#### " + answer;
        }
    }

    private static final String[] NAMES = {"Tom", "Anna", "Ben", "Lily", "Sam", "Mia", "Leo", "Emma", "Max", "Zoe", "Jack",
        "Nora", "Omar", "Ivy", "Ravi", "Lena", "Paul", "Sara", "Eli", "Kate"};
    private static final boolean[] FEMALE = {false, true, false, true, false, true, false, true, false, true, false, true,
        false, true, false, true, false, true, false, true};
    private static final String[] ITEMS = {"apples", "pencils", "stickers", "marbles", "cookies", "books", "cards", "eggs",
        "shells", "stamps", "oranges", "candies", "coins", "flowers", "toys", "balls", "beads", "plums", "cups", "rocks"};
    private static final String[] CONTAINERS = {"boxes", "bags", "baskets", "jars", "packs", "crates"};

    private final SplittableRandom random;

    public Problems(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /** The canonical form of a question: lower case, single spaces; two questions with equal keys are the same. */
    public static String canonical(String question) {
        return question.toLowerCase(Locale.ROOT).replaceAll("\\s+", " ").trim();
    }

    /** The next problem of a family. */
    public Problem next(Family family) {
        return switch (family) {
            case ADD -> add();
            case MUL -> mul();
            case MIX -> mix();
        };
    }

    /** The next problem, its family drawn with the given weights (in {@link Family} order). */
    public Problem next(double[] weights) {
        double total = 0;
        for (double w : weights) {
            total += w;
        }
        double u = random.nextDouble() * total;
        for (int i = 0; i < weights.length; i++) {
            u -= weights[i];
            if (u < 0) {
                return next(Family.values()[i]);
            }
        }
        return next(Family.values()[weights.length - 1]);
    }

    /** {@code n} distinct problems, cycling through the families, none of whose questions is in {@code exclude}. */
    public List<Problem> distinct(int n, Set<String> exclude) {
        List<Problem> out = new ArrayList<>();
        Set<String> seen = new HashSet<>(exclude);
        Family[] families = Family.values();
        for (int i = 0; out.size() < n; i++) {
            Problem p = next(families[out.size() % families.length]);
            if (seen.add(canonical(p.question()))) {
                out.add(p);
            }
            if (i > 100 * n + 1000) {
                throw new IllegalStateException("cannot find " + n + " distinct problems");
            }
        }
        return out;
    }

    private int between(int lo, int hi) {
        return lo + random.nextInt(hi - lo + 1);
    }

    private String pick(String[] values) {
        return values[random.nextInt(values.length)];
    }

    private record Who(String name, String he, String his) {}

    private Who who() {
        int i = random.nextInt(NAMES.length);
        return FEMALE[i] ? new Who(NAMES[i], "she", "her") : new Who(NAMES[i], "he", "his");
    }

    private static String cap(String s) {
        return Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    private Problem add() {
        Who w = who();
        String item = pick(ITEMS);
        int t = random.nextInt(6);
        switch (t) {
            case 0 -> {
                int a = between(2, 25);
                int b = between(2, 25);
                return new Problem(Family.ADD, w.name + " has " + a + " " + item + ". " + cap(w.he) + " buys " + b
                        + " more. How many " + item + " does " + w.he + " have now?", a + " + " + b + " = " + (a + b) + ".", a + b);
            }
            case 1 -> {
                int a = between(6, 40);
                int b = between(1, a - 1);
                return new Problem(Family.ADD, w.name + " has " + a + " " + item + ". " + cap(w.he) + " gives away " + b
                        + " of them. How many " + item + " does " + w.he + " have left?", a + " - " + b + " = " + (a - b) + ".",
                        a - b);
            }
            case 2 -> {
                Who o = who();
                while (o.name.equals(w.name)) {
                    o = who();
                }
                int a = between(2, 25);
                int b = between(2, 25);
                return new Problem(Family.ADD, w.name + " has " + a + " " + item + " and " + o.name + " has " + b + " "
                        + item + ". How many " + item + " do they have together?", a + " + " + b + " = " + (a + b) + ".",
                        a + b);
            }
            case 3 -> {
                int a = between(2, 20);
                int b = between(2, 20);
                int c = between(1, a + b - 1);
                int s = a + b;
                return new Problem(Family.ADD, w.name + " has " + a + " " + item + ". " + cap(w.he) + " buys " + b
                        + " more and then gives away " + c + ". How many " + item + " does " + w.he + " have now?",
                        a + " + " + b + " = " + s + ". " + s + " - " + c + " = " + (s - c) + ".", s - c);
            }
            case 4 -> {
                int a = between(6, 30);
                int b = between(1, a - 1);
                int c = between(2, 20);
                int s = a - b;
                return new Problem(Family.ADD, w.name + " had " + a + " " + item + ". " + cap(w.he) + " lost " + b
                        + " and found " + c + " more. How many " + item + " does " + w.he + " have now?",
                        a + " - " + b + " = " + s + ". " + s + " + " + c + " = " + (s + c) + ".", s + c);
            }
            default -> {
                int a = between(6, 40);
                int b = between(1, a - 1);
                return new Problem(Family.ADD, "A shop had " + a + " " + item + ". It sold " + b + " of them. How many "
                        + item + " are left in the shop?", a + " - " + b + " = " + (a - b) + ".", a - b);
            }
        }
    }

    private Problem mul() {
        Who w = who();
        String item = pick(ITEMS);
        String box = pick(CONTAINERS);
        int a = between(2, 9);
        int b = between(2, 12);
        int p = a * b;
        int t = random.nextInt(5);
        switch (t) {
            case 0 -> {
                return new Problem(Family.MUL, w.name + " has " + a + " " + box + " with " + b + " " + item
                        + " in each. How many " + item + " does " + w.he + " have?", a + " * " + b + " = " + p + ".", p);
            }
            case 1 -> {
                return new Problem(Family.MUL, w.name + " shares " + p + " " + item + " equally among " + a
                        + " friends. How many " + item + " does each friend get?", p + " / " + a + " = " + b + ".", b);
            }
            case 2 -> {
                return new Problem(Family.MUL, w.name + " buys " + a + " " + box + " of " + item + ". Each one holds " + b
                        + " " + item + ". How many " + item + " does " + w.he + " buy?", a + " * " + b + " = " + p + ".", p);
            }
            case 3 -> {
                return new Problem(Family.MUL, w.name + " packs " + p + " " + item + " into " + box + " of " + b
                        + ". How many " + box + " does " + w.he + " fill?", p + " / " + b + " = " + a + ".", a);
            }
            default -> {
                return new Problem(Family.MUL, "Each " + box.substring(0, box.length() - (box.endsWith("es") ? 2 : 1))
                        + " holds " + b + " " + item + ". How many " + item + " are in " + a + " " + box + "?",
                        a + " * " + b + " = " + p + ".", p);
            }
        }
    }

    private Problem mix() {
        Who w = who();
        String item = pick(ITEMS);
        String box = pick(CONTAINERS);
        int a = between(2, 9);
        int b = between(2, 9);
        int p = a * b;
        int t = random.nextInt(4);
        switch (t) {
            case 0 -> {
                int c = between(1, p - 1);
                return new Problem(Family.MIX, w.name + " has " + a + " " + box + " with " + b + " " + item
                        + " in each. " + cap(w.he) + " gives away " + c + " " + item + ". How many " + item + " does " + w.he
                        + " have left?", a + " * " + b + " = " + p + ". " + p + " - " + c + " = " + (p - c) + ".", p - c);
            }
            case 1 -> {
                int c = between(2, 20);
                return new Problem(Family.MIX, w.name + " has " + c + " " + item + ". " + cap(w.he) + " buys " + a + " "
                        + box + " with " + b + " " + item + " in each. How many " + item + " does " + w.he + " have now?",
                        a + " * " + b + " = " + p + ". " + p + " + " + c + " = " + (p + c) + ".", p + c);
            }
            case 2 -> {
                int c = between(2, 15);
                return new Problem(Family.MIX, w.name + " shares " + p + " " + item + " equally among " + a
                        + " friends. Each friend then finds " + c + " more. How many " + item + " does each friend have?",
                        p + " / " + a + " = " + b + ". " + b + " + " + c + " = " + (b + c) + ".", b + c);
            }
            default -> {
                int c = between(2, 20);
                int s = p + c;
                return new Problem(Family.MIX, w.name + " has " + c + " " + item + " and buys " + a + " " + box + " of "
                        + b + ". " + cap(w.he) + " then gives away " + b + ". How many " + item + " does " + w.he + " have?",
                        a + " * " + b + " = " + p + ". " + p + " + " + c + " = " + s + ". " + s + " - " + b + " = " + (s - b)
                                + ".", s - b);
            }
        }
    }
}
