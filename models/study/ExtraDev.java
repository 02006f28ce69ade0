import dev.coolfusion.demo.DemoModels;
import dev.coolfusion.demo.Problems;
import dev.coolfusion.demo.Problems.Problem;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.*;

/**
 * A larger development set for measuring (never choosing): N problems from seed 5000003 with every held-out, dev,
 * shot, tokenizer-corpus and training question excluded by the same canonical-question guard.
 * usage: java ... models/study/ExtraDev.java out.jsonl N
 */
public class ExtraDev {
    public static void main(String[] args) throws Exception {
        Set<String> exclude = new HashSet<>(DemoModels.heldoutKeys());
        for (Problem p : DemoModels.shots()) exclude.add(Problems.canonical(p.question()));
        for (Problem p : DemoModels.dev()) exclude.add(Problems.canonical(p.question()));
        Method tok = DemoModels.class.getDeclaredMethod("tokenizerProblems", Set.class);
        tok.setAccessible(true);
        @SuppressWarnings("unchecked")
        List<Problem> tokenizer = (List<Problem>) tok.invoke(null, DemoModels.heldoutKeys());
        for (Problem p : tokenizer) exclude.add(Problems.canonical(p.question()));
        int problems = DemoModels.Settings.standard().problems();
        for (DemoModels.ModelSpec spec : DemoModels.MODELS) {
            for (Problem p : DemoModels.trainingProblems(spec, problems, DemoModels.heldoutKeys())) {
                exclude.add(Problems.canonical(p.question()));
            }
        }
        List<Problem> out = new Problems(5_000_003L).distinct(Integer.parseInt(args[1]), exclude);
        DemoModels.writeGsm(out, Path.of(args[0]));
        System.out.println(out.size() + " problems -> " + args[0] + " (" + exclude.size() + " questions excluded)");
    }
}
