package dev.coolfusion.eval;

import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.config.ComponentSpec;
import dev.coolfusion.core.config.FusionConfigLoader;
import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.testkit.BundledModels;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Reference answers' NLL on the bundled models, computed apart from Calibration's own code (for calibration tests). */
public final class ReferenceNll {
    private ReferenceNll() {}

    /** The first {@code n} items of the bundled development set. */
    public static List<GsmItem> devItems(int n) {
        return GsmData.read(BundledModels.dir().resolve("dev.jsonl")).subList(0, n);
    }

    /** Bundled source {@code index} as its config names it, without its calibration temperature. */
    public static ComponentSpec bundledSource(int index) {
        ComponentSpec spec = FusionConfigLoader.load(BundledModels.dir().resolve("fusion.yaml")).sources().get(index);
        Map<String, String> options = new HashMap<>(spec.options());
        options.remove(Calibration.OPTION);
        return ComponentSpec.of(spec.provider(), options);
    }

    /** Mean NLL per token of the items' reference answers, measured independently of the fitting code's cache. */
    public static double nll(ComponentSpec spec, double temperature, List<GsmItem> items, WholeAnswers.Ending ending, FewShot shots) {
        Map<String, String> options = new HashMap<>(spec.options());
        options.put(Calibration.OPTION, Double.toString(temperature));
        try (SourceModel model = Plugins.discover().sourceModel(ComponentSpec.of(spec.provider(), options))) {
            return nll(model, items, ending, shots);
        }
    }

    public static double nll(SourceModel model, List<GsmItem> items, WholeAnswers.Ending ending, FewShot shots) {
        double total = 0;
        long tokens = 0;
        for (GsmItem item : items) {
            List<CandidateEvidence> ev = Rerank.assess(shots.prompt(item.question()), List.of(" " + item.workedAnswer()),
                    List.of(model), ending);
            ModelLogProbs lp = ev.get(0).byModel().get(0);
            total += lp.totalNll();
            tokens += lp.logProbs().size();
        }
        return total / tokens;
    }
}
