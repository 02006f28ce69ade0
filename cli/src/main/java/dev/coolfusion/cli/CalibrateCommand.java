package dev.coolfusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.FusionConfig;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.eval.Calibration;
import dev.coolfusion.eval.FewShot;
import dev.coolfusion.eval.GsmData;
import dev.coolfusion.eval.GsmItem;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Fits each source's calibration temperature on a development set's reference answers. */
@Command(name = "calibrate", description = {
    "Fit each source's calibration temperature (temperature scaling) on the reference answers of a GSM8K-format"
            + " development set: the T that minimises their NLL under softmax(logits / T).",
    "Prints the fit and, with --out, writes the config with 'calibration-temperature' set on every source.",
    "Use a development set, never the set you report on."})
final class CalibrateCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", required = true, description = "Fusion config (YAML) whose sources to calibrate.")
    Path config;

    @CommandLine.Mixin
    GsmDataOptions input;

    @Option(names = "--out", description = "Write a copy of the config with each source's fitted temperature.")
    Path out;

    @Option(names = "--jobs", description = "Sources fitted at once (default: one per source, at most the CPU count).")
    Integer jobs;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        DjlThreads.configure();
        if (jobs != null && jobs < 1) {
            throw new FusionException("--jobs must be at least 1, got " + jobs);
        }
        OutputFiles.check("--out", out);
        List<GsmItem> items = input.items();
        FusionConfig fusion = FusionConfigLoader.load(config);
        FewShot fewShot = input.fewShot();
        Calibration calibration = new Calibration(Plugins.discover(), fewShot, WholeAnswers.Ending.of(fusion.options()));
        List<ComponentSpec> sources = fusion.sources();
        long start = System.nanoTime();
        List<Calibration.Fit> fits = jobs != null ? calibration.fitAll(sources, items, jobs)
                : calibration.fitAll(sources, items);
        w.printf("%d reference answers of %s, %d-shot, %.0f s%n", items.size(), input.data, fewShot.shots().size(),
                (System.nanoTime() - start) / 1e9);
        w.printf("%-12s %12s %14s %14s %8s%n", "source", "temperature", "NLL/token T=1", "NLL/token fit", "tokens");
        for (Calibration.Fit f : fits) {
            w.printf(Locale.ROOT, "%-12s %12.3f %14.4f %14.4f %8d%n", f.source(), f.temperature(), f.rawNll(),
                    f.fittedNll(), f.tokens());
        }
        if (out != null) {
            writeConfig(fits);
            w.println("calibrated config: " + out);
        }
        w.flush();
        return 0;
    }

    /** The original YAML with each source's temperature set; relative model paths still point at the same folders. */
    private void writeConfig(List<Calibration.Fit> fits) throws IOException {
        YAMLMapper yaml = new YAMLMapper(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));
        JsonNode root = yaml.readTree(config.toFile());
        Path from = config.toAbsolutePath().getParent();
        Path to = out.toAbsolutePath().getParent();
        JsonNode sources = root.path("sources");
        for (int i = 0; i < fits.size(); i++) {
            JsonNode node = sources.get(i);
            ObjectNode options = node.get("options") instanceof ObjectNode o ? o : ((ObjectNode) node).putObject("options");
            JsonNode path = options.get("path");
            if (path != null && path.isTextual() && !Path.of(path.asText()).isAbsolute() && !from.equals(to)) {
                options.put("path", to.relativize(from.resolve(path.asText()).normalize()).toString());
            }
            options.put(Calibration.OPTION, Math.round(fits.get(i).temperature() * 1000) / 1000.0);
        }
        Files.createDirectories(to);
        Path partial = to.resolve("." + out.getFileName() + ".partial");
        try {
            Files.writeString(partial, "# " + config.getFileName() + " calibrated by 'cool-fusion calibrate --data " + input.data
                    + "'\n" + yaml.writeValueAsString(root));
            Files.move(partial, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(partial);
        }
    }
}
