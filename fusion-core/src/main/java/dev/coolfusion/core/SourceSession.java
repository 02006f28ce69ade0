package dev.coolfusion.core;

import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.List;

/**
 * One source's part of one generation: its committed state, the tokens it generated ahead of the last segment it
 * won (the paper's optimisation 1), and every temporary state created in the current step. Confined to one
 * generation; each phase touches a session from one thread only.
 */
final class SourceSession {
    final int index;
    final SourceModel model;
    /** The source's tokenizer, through its fusion's {@link CachedCodec}. */
    final TextCodec codec;
    StateHandle committed;
    /** How many tokens the committed state holds: the prompt and every committed segment. */
    int tokens;
    /** The source's {@link SourceModel#maxContextTokens()}, or {@link Integer#MAX_VALUE} when unlimited. */
    final int maxContext;
    /** Generated past the last won segment: each token, its log-prob and the state after it. */
    final List<TokenStep> ahead = new ArrayList<>();
    /** Temporary states created or carried into this step; all but the kept ones are released at its end. */
    final List<StateHandle> stepStates = new ArrayList<>();

    SourceSession(int index, SourceModel model, TextCodec codec) {
        this.index = index;
        this.model = model;
        this.codec = codec; // the fusion's memo, shared by T1, M3 and every generation
        this.maxContext = model.maxContextTokens().orElse(Integer.MAX_VALUE);
    }

    /** How many more tokens fit after the committed state. */
    int room() {
        return maxContext - tokens;
    }

    String name() {
        return model.name();
    }

    /** Every handle this session still holds. */
    List<StateHandle> allStates() {
        List<StateHandle> all = new ArrayList<>(stepStates);
        for (TokenStep step : ahead) {
            if (!all.contains(step.state())) {
                all.add(step.state());
            }
        }
        if (committed != null && !all.contains(committed)) {
            all.add(committed);
        }
        return all;
    }
}
