package dev.coolfusion.cli;

import dev.coolfusion.eval.EvalMethod;
import dev.coolfusion.eval.EvalReport;
import dev.coolfusion.eval.Evaluator;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.core.config.ConfiguredFusion;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.FusionFactory;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.spi.FusionException;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The main job: fuses the three bundled models on held-out problems and compares methods on a fixed sample. */
@Command(name = "demo", description = {
    "Fuse the three bundled demo models (different tokenizers, different strengths) on held-out arithmetic problems:",
    "shows who won each segment, then accuracy of each model alone, Cool-Fusion, Rerank, Cool+Rerank and Cool-align."})
final class DemoCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", description = "Fusion config (default: models/fusion.yaml of this checkout).")
    Path config;

    @Option(names = "--show", defaultValue = "3", description = "Problems to show segment by segment (default: ${DEFAULT-VALUE}).")
    int show;

    @Option(names = "--sample", defaultValue = "45", description = "Held-out problems in the accuracy table (default: ${DEFAULT-VALUE}).")
    int sample;

    @Option(names = "--color", negatable = true, description = "ANSI colours (default: when on a terminal).")
    Boolean color;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (show < 0) {
            throw new FusionException("--show must be at least 0, got " + show);
        }
        if (sample < 1) {
            throw new FusionException("--sample must be at least 1, got " + sample);
        }
        DjlThreads.configure();
        Path cfg = config != null ? config : locate("models/fusion.yaml");
        FusionConfig fusionConfig = FusionConfigLoader.load(cfg); // its errors name the config
        Path data = cfg.toAbsolutePath().getParent().resolve("heldout.jsonl");
        if (!Files.isRegularFile(data)) {
            throw new FusionException("demo --config " + cfg + ": the demo runs on the held-out problems next to its "
                    + "config, and there is no " + data + " (the bundled models/ folder has one); for other models or "
                    + "data use 'cool-fusion eval --config <fusion.yaml> --data <file.jsonl>'");
        }
        boolean ansi = color != null ? color : System.console() != null;
        List<GsmItem> items = GsmData.read(data);
        long start = System.nanoTime();
        try (ConfiguredFusion setup = FusionFactory.discover().create(fusionConfig)) {
            DemoView view = new DemoView(out, ansi, setup.sourceNames());
            view.intro(setup.sources(), setup.metric());
            Evaluator evaluator = new Evaluator(setup.sources(), setup.metric(), setup.options(), GsmDataOptions.builtInShots(3));
            List<String> names = setup.sourceNames();
            List<EvalMethod> showMethods = new java.util.ArrayList<>();
            for (String n : names) {
                showMethods.add(EvalMethod.parse("single:" + n, names));
            }
            showMethods.add(EvalMethod.parse("cool", names));
            // Problems to show: the last ones of the held-out file (the table uses the first ones).
            int from = Math.max(0, items.size() - show);
            for (GsmItem item : items.subList(from, items.size())) {
                view.problem(evaluator.run(item, showMethods));
            }
            List<EvalMethod> methods = EvalMethod.defaults(names);
            EvalReport report = new EvalReport(methods);
            List<GsmItem> fixed = items.subList(0, Math.min(sample, items.size()));
            view.tableHeader(fixed.size(), data);
            int done = 0;
            for (GsmItem item : fixed) {
                report.add(evaluator.run(item, methods));
                view.progress(++done, fixed.size(), start);
            }
            view.table(report);
        }
        out.printf("%ndone in %.0f s. Full held-out evaluation: ./cool-fusion eval --config %s --data %s --out results.json"
                + " --chart results.png%n", (System.nanoTime() - start) / 1e9, cfg, data);
        out.flush();
        return 0;
    }

    /** A path relative to the current folder, else relative to this checkout (cli/target/classes/../../..). */
    static Path locate(String relative) {
        Path here = Path.of(relative);
        if (Files.isRegularFile(here)) {
            return here;
        }
        try {
            Path classes = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (Path p = classes; p != null; p = p.getParent()) {
                Path candidate = p.resolve(relative);
                if (Files.isRegularFile(candidate)) {
                    return candidate;
                }
            }
        } catch (URISyntaxException | RuntimeException e) {
            // fall through
        }
        throw new FusionException("cannot find " + relative + " (the bundled demo models); run from the repository root"
                + " or pass --config");
    }
}
