package dev.coolfusion.core;

import dev.coolfusion.segment.SegmentGenerator;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.Sampling;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * T1 for one source in one step: asks {@link SegmentGenerator} (which uses the source's own {@code nextText} when it
 * runs T1 itself, as a worker does) for a segment after the committed state, replaying the look-ahead the source
 * kept from the last segment it won, and records every temporary state the step created.
 */
final class SegmentProposer {
    private final FusionOptions options;

    SegmentProposer(FusionOptions options) {
        this.options = options;
    }

    /**
     * Proposes {@code session}'s segment for {@code step}, aligned to the tokenizers of {@code active} (the sources
     * still in the fusion, {@code session} among them).
     */
    Proposal propose(SourceSession session, int step, List<SourceSession> active) {
        List<TextCodec> codecs = active.stream().map(s -> s.codec).toList();
        int self = active.indexOf(session);
        List<TokenStep> ahead = List.copyOf(session.ahead);
        session.ahead.clear();
        Set<StateHandle> known = new HashSet<>(session.stepStates);
        for (TokenStep replayed : ahead) {
            if (known.add(replayed.state())) {
                session.stepStates.add(replayed.state());
            }
        }
        SegmentRequest request = new SegmentRequest(session.committed, ahead, session.room(), codecs, self,
                options.segmentChoice(), options.alignment(), options.maxSegmentTokens(),
                new Sampling(options.temperature(), options.topP(), options.seed(), step, session.index));
        // Each generated state is recorded as it comes, so that a T1 that fails half-way leaks nothing.
        ProposedSegment segment = session.model.nextText(request).orElseGet(() -> SegmentGenerator.generate(
                session.name(), request, (from, decoding) -> {
                    TokenStep made = session.model.nextToken(from, decoding);
                    if (known.add(made.state())) {
                        session.stepStates.add(made.state());
                    }
                    return made;
                }));
        for (TokenStep generated : segment.steps()) {
            if (known.add(generated.state())) {
                session.stepStates.add(generated.state());
            }
        }
        return new Proposal(session.index, segment);
    }
}
