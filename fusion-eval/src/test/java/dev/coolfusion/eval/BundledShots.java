package dev.coolfusion.eval;

import dev.coolfusion.testkit.BundledModels;

/** The bundled models' three few-shot exemplars, read from {@code models/shots.jsonl}. */
final class BundledShots {
    private BundledShots() {}

    static FewShot three() {
        return FewShot.fromItems(GsmData.read(BundledModels.dir().resolve("shots.jsonl")), 3);
    }
}
