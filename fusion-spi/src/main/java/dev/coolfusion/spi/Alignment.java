package dev.coolfusion.spi;

/** Whose word boundaries may end a segment. */
public enum Alignment {
    /** Boundaries that every source's tokenizer shares (Cool-Fusion). */
    COMMON,
    /** The proposing model's own word boundaries only (the paper's Cool-align ablation). */
    OWN
}
