package dev.coolfusion.demo;

import dev.coolfusion.testkit.BundledModels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.demo.Problems.Problem;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.eval.GsmData;
import java.nio.file.Files;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class HeldoutIsolationTest {

    @Test
    void committedShotsAreTheSeededExemplarsInTheFewShotFormat() {
        FewShot fromFile = FewShot.fromItems(GsmData.read(BundledModels.dir().resolve("shots.jsonl")), 3);
        List<Problem> shots = DemoModels.shots();
        assertEquals(shots.size(), fromFile.shots().size());
        for (int i = 0; i < shots.size(); i++) {
            assertEquals(shots.get(i).question(), fromFile.shots().get(i).question());
            assertEquals(shots.get(i).solution(), fromFile.shots().get(i).solution(), "shot " + i);
        }
    }

    @Test
    void committedHeldoutSetIsTheSeededOneWithAtLeast500DistinctProblems() throws Exception {
        List<String> lines = Files.readAllLines(BundledModels.dir().resolve("heldout.jsonl"));
        List<Problem> expected = DemoModels.heldout();
        assertTrue(lines.size() >= 500, "held-out size " + lines.size());
        assertEquals(expected.size(), lines.size());
        ObjectMapper json = new ObjectMapper();
        Set<String> keys = new HashSet<>();
        Map<Problems.Family, Integer> families = new EnumMap<>(Problems.Family.class);
        for (int i = 0; i < lines.size(); i++) {
            JsonNode n = json.readTree(lines.get(i));
            assertEquals(expected.get(i).question(), n.get("question").asText(), "line " + (i + 1));
            assertTrue(n.get("answer").asText().endsWith("#### " + expected.get(i).answer()));
            assertTrue(keys.add(Problems.canonical(n.get("question").asText())), "duplicate at line " + (i + 1));
            families.merge(expected.get(i).family(), 1, Integer::sum);
        }
        for (Problems.Family f : Problems.Family.values()) {
            assertTrue(families.getOrDefault(f, 0) >= lines.size() / 4, "family " + f + ": " + families);
        }
    }

    @Test
    void committedDevSetIsTheSeededOneAndDisjointFromHeldoutShotsAndTraining() throws Exception {
        List<String> lines = Files.readAllLines(BundledModels.dir().resolve("dev.jsonl"));
        List<Problem> expected = DemoModels.dev();
        assertEquals(expected.size(), lines.size());
        assertTrue(lines.size() >= 200, "dev size " + lines.size());
        Set<String> heldout = DemoModels.heldoutKeys();
        // The committed held-out file itself, not only the seeded set.
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(BundledModels.dir().resolve("heldout.jsonl"))) {
            heldout.add(Problems.canonical(json.readTree(line).get("question").asText()));
        }
        Set<String> forbidden = new HashSet<>(heldout);
        for (Problem p : DemoModels.shots()) {
            forbidden.add(Problems.canonical(p.question()));
        }
        int problems = DemoModels.Settings.standard().problems();
        for (DemoModels.ModelSpec spec : DemoModels.MODELS) {
            for (Problem p : DemoModels.trainingProblems(spec, problems, heldout)) {
                forbidden.add(Problems.canonical(p.question()));
            }
        }
        for (Problem p : DemoModels.tokenizerProblems(heldout)) {
            forbidden.add(Problems.canonical(p.question()));
        }
        Set<String> keys = new HashSet<>();
        for (int i = 0; i < lines.size(); i++) {
            JsonNode n = json.readTree(lines.get(i));
            String key = Problems.canonical(n.get("question").asText());
            assertEquals(expected.get(i).question(), n.get("question").asText(), "line " + (i + 1));
            assertTrue(n.get("answer").asText().endsWith("#### " + expected.get(i).answer()));
            assertTrue(keys.add(key), "duplicate at line " + (i + 1));
            assertTrue(!heldout.contains(key), "dev line " + (i + 1) + " is held out: " + key);
            assertTrue(!forbidden.contains(key), "dev line " + (i + 1) + " is a shot or training problem: " + key);
        }
    }

    @Test
    void noTrainingProblemOfAnyModelIsHeldOut() {
        Set<String> heldout = DemoModels.heldoutKeys();
        DemoModels.Settings settings = DemoModels.Settings.standard();
        for (DemoModels.ModelSpec spec : DemoModels.MODELS) {
            Problem[] training = DemoModels.trainingProblems(spec, settings.problems(), heldout);
            for (Problem p : training) {
                assertTrue(!heldout.contains(Problems.canonical(p.question())), "held-out question in training: " + p.question());
            }
        }
    }

    @Test
    void theFilterIsNeededAndWorks() {
        // The generators overlap by chance (same templates); the canonical-question filter removes those problems.
        Set<String> heldout = DemoModels.heldoutKeys();
        DemoModels.ModelSpec spec = DemoModels.MODELS.get(0);
        Problem[] unfiltered = DemoModels.trainingProblems(spec, 24000, Set.of());
        int overlap = 0;
        for (Problem p : unfiltered) {
            if (heldout.contains(Problems.canonical(p.question()))) {
                overlap++;
            }
        }
        Problem[] filtered = DemoModels.trainingProblems(spec, 24000, heldout);
        for (Problem p : filtered) {
            assertTrue(!heldout.contains(Problems.canonical(p.question())));
        }
        assertTrue(overlap > 0, "without the filter, training would see held-out questions");
        assertTrue(overlap < 24000 / 10, "overlap " + overlap);
    }

    @Test
    void shotsAreNotHeldOutAndSeedsAreDisjoint() {
        Set<String> heldout = DemoModels.heldoutKeys();
        for (Problem p : DemoModels.shots()) {
            assertTrue(!heldout.contains(Problems.canonical(p.question())), p.question());
        }
        Set<Long> seeds = new HashSet<>(List.of(DemoModels.HELDOUT_SEED, DemoModels.SHOTS_SEED, DemoModels.TOKENIZER_SEED));
        for (DemoModels.ModelSpec spec : DemoModels.MODELS) {
            assertTrue(seeds.add(spec.seed() * 7919L + 17), "seed clash for " + spec.name());
        }
    }

    @Test
    void solutionsAreArithmeticallyRight() {
        Problems gen = new Problems(5);
        for (int i = 0; i < 3000; i++) {
            Problem p = gen.next(Problems.Family.values()[i % 3]);
            long last = 0;
            for (String step : p.steps().split("\\. ?")) {
                String[] parts = step.strip().split(" ");
                long a = Long.parseLong(parts[0]);
                long b = Long.parseLong(parts[2]);
                long r = Long.parseLong(parts[4]);
                long want = switch (parts[1]) {
                    case "+" -> a + b;
                    case "-" -> a - b;
                    case "*" -> a * b;
                    default -> a / b;
                };
                if (parts[1].equals("/")) {
                    assertEquals(0, a % b, p.steps());
                }
                assertEquals(want, r, p.text());
                assertTrue(r >= 0, p.text());
                last = r;
            }
            assertEquals(p.answer(), last, p.text());
        }
    }
}
