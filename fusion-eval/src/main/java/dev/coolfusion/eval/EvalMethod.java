package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import java.util.ArrayList;
import java.util.List;

/**
 * One evaluated method, as the paper's Table 3 has them:
 * <ul>
 *   <li>{@code single:<name>}: one source alone (a fusion of one source: greedy decoding);</li>
 *   <li>{@code cool}: Cool-Fusion of all sources; {@code cool2}, {@code cool3}, …: of the first N; {@code cool:A+B}:
 *       of the named ones;</li>
 *   <li>{@code rerank}: every source writes its whole answer greedily; every source scores every answer followed by
 *       what ends it, and the whole-answer metric (bits per byte averaged over the sources by default, see
 *       {@link Evaluator#defaultRerankMetric()}) picks one ({@code rerank:A+B} for a subset);</li>
 *   <li>{@code cool+rerank}: the Cool-Fusion answer joins the rerank candidates;</li>
 *   <li>{@code cool-align}: Cool-Fusion with each proposer's own word boundaries ({@code Alignment.OWN}).</li>
 * </ul>
 *
 * @param name    the spec as given
 * @param kind    what it runs
 * @param sources the source names it uses, in fusion order
 */
public record EvalMethod(String name, Kind kind, List<String> sources) {
    public enum Kind { SINGLE, COOL, RERANK, COOL_RERANK, COOL_ALIGN }

    public static final String FORMS = "single:<source>, cool, cool<N>, cool:<a>+<b>, rerank, rerank:<a>+<b>, "
            + "cool+rerank, cool-align, cool-align:<a>+<b>";

    public EvalMethod {
        requireNonNull(name, "name is null");
        requireNonNull(kind, "kind is null");
        sources = List.copyOf(sources);
    }

    /** The default methods: each source alone, rerank, Cool-Fusion of the first two and of all, cool+rerank, cool-align. */
    public static List<EvalMethod> defaults(List<String> sourceNames) {
        List<String> specs = new ArrayList<>();
        for (String s : sourceNames) {
            specs.add("single:" + s);
        }
        specs.add("rerank");
        if (sourceNames.size() > 2) {
            specs.add("cool2");
        }
        specs.add("cool");
        specs.add("cool+rerank");
        specs.add("cool-align");
        List<EvalMethod> out = new ArrayList<>();
        for (String spec : specs) {
            out.add(parse(spec, sourceNames));
        }
        return out;
    }

    public static EvalMethod parse(String spec, List<String> sourceNames) {
        String s = spec.strip();
        if (s.startsWith("single:")) {
            String src = s.substring("single:".length());
            check(src, sourceNames, spec);
            return new EvalMethod(s, Kind.SINGLE, List.of(src));
        }
        if (s.equals("cool+rerank")) {
            return new EvalMethod(s, Kind.COOL_RERANK, sourceNames);
        }
        for (var entry : List.of(new Object[] {"cool-align", Kind.COOL_ALIGN}, new Object[] {"rerank", Kind.RERANK},
                new Object[] {"cool", Kind.COOL})) {
            String prefix = (String) entry[0];
            Kind kind = (Kind) entry[1];
            if (s.equals(prefix)) {
                return new EvalMethod(s, kind, sourceNames);
            }
            if (s.startsWith(prefix + ":")) {
                List<String> subset = new ArrayList<>();
                for (String part : s.substring(prefix.length() + 1).split("\\+")) {
                    check(part, sourceNames, spec);
                    if (subset.contains(part)) {
                        throw new FusionException("method '" + spec + "' names source '" + part + "' twice");
                    }
                    subset.add(part);
                }
                return new EvalMethod(s, kind, sourceNames.stream().filter(subset::contains).toList());
            }
        }
        if (s.matches("cool\\d+")) {
            int n = Integer.parseInt(s.substring(4));
            if (n < 1 || n > sourceNames.size()) {
                throw new FusionException("method '" + spec + "': the config has " + sourceNames.size() + " sources");
            }
            return new EvalMethod(s, Kind.COOL, sourceNames.subList(0, n));
        }
        throw new FusionException("unknown method '" + spec + "'; valid forms: " + FORMS + " (sources: " + sourceNames + ")");
    }

    private static void check(String source, List<String> names, String spec) {
        if (!names.contains(source)) {
            throw new FusionException("method '" + spec + "' names unknown source '" + source + "'; sources: " + names);
        }
    }
}
