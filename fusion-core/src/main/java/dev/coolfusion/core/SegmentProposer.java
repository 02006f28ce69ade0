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
    private final List<TextCodec> codecs;
    private final FusionOptions options;

    SegmentProposer(List<TextCodec> codecs, FusionOptions options) {
        this.codecs = codecs;
        this.options = options;
    }

    Proposal propose(SourceSession session, int step) {
        List<TokenStep> ahead = List.copyOf(session.ahead);
        session.ahead.clear();
        Set<StateHandle> known = new HashSet<>(session.stepStates);
        for (TokenStep replayed : ahead) {
            if (known.add(replayed.state())) {
                session.stepStates.add(replayed.state());
            }
        }
        SegmentRequest request = new SegmentRequest(session.committed, ahead, session.room(), codecs, session.index,
                options.segmentChoice(), options.alignment(), options.maxSegmentTokens(),
                new Sampling(options.temperature(), options.topP(), options.seed(), step, session.index));
        ProposedSegment segment = SegmentGenerator.propose(session.model, request);
        for (TokenStep generated : segment.steps()) {
            if (known.add(generated.state())) {
                session.stepStates.add(generated.state());
            }
        }
        return new Proposal(session.index, segment);
    }
}
