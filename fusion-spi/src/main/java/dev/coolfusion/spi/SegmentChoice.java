package dev.coolfusion.spi;

/** Which common boundary ends a segment once at least one exists. */
public enum SegmentChoice {
    /** The first one: models fuse as early as possible (the paper's rule, the default). */
    SHORTEST,
    /** The last one among the complete words; an option for experiments. */
    LONGEST
}
