package dev.coolfusion.cli;

import dev.coolfusion.demo.DemoModels;
import dev.coolfusion.demo.Problems;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.spi.FusionException;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** The {@code --data}, {@code --limit}, {@code --shots} and {@code --shots-file} options of commands that read GSM8K data. */
final class GsmDataOptions {
    @Option(names = "--data", required = true, description = "GSM8K JSON lines: {\"question\": ..., \"answer\": \"... #### 42\"}.")
    Path data;

    @Option(names = "--shots", defaultValue = "3", description = "Few-shot exemplars (default: ${DEFAULT-VALUE}).")
    int shots;

    @Option(names = "--shots-file", description = "Take the exemplars from the first items of this GSM8K file (e.g. its"
            + " train split); default: the built-in exemplars (generated, never in the held-out set).")
    Path shotsFile;

    @Option(names = "--limit", description = "Use only the first N items.")
    Integer limit;

    /** The data's items, the first {@code --limit} of them; bad option values are errors that name the option. */
    List<GsmItem> items() {
        if (shots < 0) {
            throw new FusionException("--shots must be at least 0, got " + shots);
        }
        if (limit != null && limit < 1) {
            throw new FusionException("--limit must be at least 1, got " + limit);
        }
        List<GsmItem> items = GsmData.read(data);
        return limit != null && limit < items.size() ? items.subList(0, limit) : items;
    }

    /** The few-shot exemplars. */
    FewShot fewShot() {
        return shotsFile == null ? builtInShots(shots) : FewShot.fromItems(GsmData.read(shotsFile), shots);
    }

    /**
     * The built-in exemplars, {@code k} of them (at most 3): one generated problem per family from the demo models'
     * shots seed, excluded from their held-out and development sets by construction ({@code models/shots.jsonl}).
     */
    static FewShot builtInShots(int k) {
        List<Problems.Problem> all = DemoModels.shots();
        if (k > all.size()) {
            throw new FusionException("the built-in exemplars are " + all.size() + "; use --shots-file for more");
        }
        return new FewShot(all.subList(0, k).stream().map(p -> new FewShot.Shot(p.question(), p.solution())).toList());
    }
}
