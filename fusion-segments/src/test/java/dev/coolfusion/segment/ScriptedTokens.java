package dev.coolfusion.segment;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * A source that writes a fixed token script after its prompt (then end-of-sequence, then more end-of-sequence), with
 * log-prob {@code -(position + 1) / 10} for the token at each position, so that tests can tell tokens apart. It can
 * also answer {@link #nextText} itself, as a worker does. A state is named by its position ({@code s<n>}), so two
 * instances with the same script share states, as replayed look-ahead needs.
 */
final class ScriptedTokens implements SourceModel {
    private final TestCodec codec;
    private final List<Integer> script;
    final List<Decoding> decodings = new ArrayList<>();
    int nextTokenCalls;
    ProposedSegment ownT1;

    ScriptedTokens(TestCodec codec, List<Integer> script) {
        this.codec = codec;
        this.script = List.copyOf(script);
    }

    StateHandle start() {
        return new StateHandle("start");
    }

    @Override
    public String name() {
        return "scripted";
    }

    @Override
    public TextCodec codec() {
        return codec;
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        return start();
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        nextTokenCalls++;
        decodings.add(decoding);
        int at = state.id().equals("start") ? 0 : Integer.parseInt(state.id().substring(1)); // "s<position>"
        int token = at < script.size() ? script.get(at) : TestCodec.EOS;
        StateHandle next = new StateHandle("s" + (at + 1));
        return new TokenStep(token, -(at + 1) / 10.0, next);
    }

    @Override
    public Optional<ProposedSegment> nextText(SegmentRequest request) {
        return Optional.ofNullable(ownT1);
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        throw new UnsupportedOperationException("T1 never scores");
    }

    @Override
    public void commit(StateHandle temporary) {}

    @Override
    public void release(Collection<StateHandle> states) {}
}
