package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.Alignment;
import dev.coolfusion.spi.SegmentChoice;
import java.util.ArrayList;
import java.util.List;

/**
 * Per-generation settings of the fusion loop. Build with {@link #builder()}; {@link #defaults()} is greedy decoding
 * with 256 new tokens.
 *
 * @param maxNewTokens     stop after this many new tokens, counted in the first source's tokenization; the last
 *                         segment is cut so that the text never exceeds the limit
 * @param maxNewChars      stop after this many new characters (Java chars); the text is cut to the limit
 * @param stopStrings      stop when one appears; the text ends before it
 * @param maxSegmentTokens how many tokens a source may generate for one segment before the fallback applies: the
 *                         longest prefix ending at the proposer's own word boundary, else all text decoded so far
 * @param segmentChoice    which common boundary ends a segment
 * @param alignment        {@link Alignment#COMMON} for Cool-Fusion, {@link Alignment#OWN} for the Cool-align ablation
 * @param temperature      0 for greedy decoding (default), else the sampling temperature
 * @param topP             nucleus sampling mass in (0, 1]
 * @param seed             seed for sampling; the same seed gives the same text
 * @param reuseLookahead   keep the tokens a winning proposer generated past its segment for the next step
 * @param reuseProposerLogProbs in M3, a proposer whose generated tokens are its own tokenization of its segment uses
 *                         the log-probs and state from generation instead of scoring it again (the paper's
 *                         optimisation 4); off, every scorer scores every candidate (the same scores, more forwards)
 * @param batchScoring     in M3, one {@code score} call per source for all candidates of a step; off, one call per
 *                         candidate (the same scores, more calls)
 * @param onSourceFailure  what a failing source call (open, T1, M3 or M4: an error, a time-out, a lost connection)
 *                         does: {@link SourceFailurePolicy#FAIL} ends the generation with that error (default),
 *                         {@link SourceFailurePolicy#DROP} leaves the source out from that step on
 */
public record FusionOptions(
        int maxNewTokens,
        int maxNewChars,
        List<String> stopStrings,
        int maxSegmentTokens,
        SegmentChoice segmentChoice,
        Alignment alignment,
        double temperature,
        double topP,
        long seed,
        boolean reuseLookahead,
        boolean reuseProposerLogProbs,
        boolean batchScoring,
        SourceFailurePolicy onSourceFailure) {

    public FusionOptions {
        requireNonNull(stopStrings, "stopStrings is null");
        requireNonNull(segmentChoice, "segmentChoice is null");
        requireNonNull(alignment, "alignment is null");
        requireNonNull(onSourceFailure, "onSourceFailure is null");
        stopStrings = List.copyOf(stopStrings);
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("maxNewTokens must be at least 1, got " + maxNewTokens);
        }
        if (maxNewChars < 1) {
            throw new IllegalArgumentException("maxNewChars must be at least 1, got " + maxNewChars);
        }
        if (maxSegmentTokens < 1) {
            throw new IllegalArgumentException("maxSegmentTokens must be at least 1, got " + maxSegmentTokens);
        }
        for (String stop : stopStrings) {
            if (stop.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        }
    }

    public static FusionOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.maxNewTokens = maxNewTokens;
        b.maxNewChars = maxNewChars;
        b.stopStrings = new ArrayList<>(stopStrings);
        b.maxSegmentTokens = maxSegmentTokens;
        b.segmentChoice = segmentChoice;
        b.alignment = alignment;
        b.temperature = temperature;
        b.topP = topP;
        b.seed = seed;
        b.reuseLookahead = reuseLookahead;
        b.reuseProposerLogProbs = reuseProposerLogProbs;
        b.batchScoring = batchScoring;
        b.onSourceFailure = onSourceFailure;
        return b;
    }

    public static final class Builder {
        private int maxNewTokens = 256;
        private int maxNewChars = Integer.MAX_VALUE;
        private List<String> stopStrings = new ArrayList<>();
        private int maxSegmentTokens = 32;
        private SegmentChoice segmentChoice = SegmentChoice.SHORTEST;
        private Alignment alignment = Alignment.COMMON;
        private double temperature;
        private double topP = 1;
        private long seed;
        private boolean reuseLookahead = true;
        private boolean reuseProposerLogProbs = true;
        private boolean batchScoring = true;
        private SourceFailurePolicy onSourceFailure = SourceFailurePolicy.FAIL;

        private Builder() {}

        public Builder maxNewTokens(int maxNewTokens) {
            this.maxNewTokens = maxNewTokens;
            return this;
        }

        public Builder maxNewChars(int maxNewChars) {
            this.maxNewChars = maxNewChars;
            return this;
        }

        public Builder stopStrings(List<String> stopStrings) {
            this.stopStrings = new ArrayList<>(requireNonNull(stopStrings, "stopStrings is null"));
            return this;
        }

        public Builder maxSegmentTokens(int maxSegmentTokens) {
            this.maxSegmentTokens = maxSegmentTokens;
            return this;
        }

        public Builder segmentChoice(SegmentChoice segmentChoice) {
            this.segmentChoice = segmentChoice;
            return this;
        }

        public Builder alignment(Alignment alignment) {
            this.alignment = alignment;
            return this;
        }

        public Builder temperature(double temperature) {
            this.temperature = temperature;
            return this;
        }

        public Builder topP(double topP) {
            this.topP = topP;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public Builder reuseLookahead(boolean reuseLookahead) {
            this.reuseLookahead = reuseLookahead;
            return this;
        }

        public Builder reuseProposerLogProbs(boolean reuseProposerLogProbs) {
            this.reuseProposerLogProbs = reuseProposerLogProbs;
            return this;
        }

        public Builder batchScoring(boolean batchScoring) {
            this.batchScoring = batchScoring;
            return this;
        }

        public Builder onSourceFailure(SourceFailurePolicy onSourceFailure) {
            this.onSourceFailure = requireNonNull(onSourceFailure, "onSourceFailure is null");
            return this;
        }

        public FusionOptions build() {
            return new FusionOptions(maxNewTokens, maxNewChars, stopStrings, maxSegmentTokens, segmentChoice,
                    alignment, temperature, topP, seed, reuseLookahead, reuseProposerLogProbs, batchScoring,
                    onSourceFailure);
        }
    }
}
