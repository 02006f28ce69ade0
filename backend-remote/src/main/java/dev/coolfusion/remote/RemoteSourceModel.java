package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.OptionalInt;

/** A source model served by a {@link TableOneServer}: each Table-1 call is one HTTP request. */
final class RemoteSourceModel implements SourceModel {
    private final JsonHttp client;
    private final String served;
    private final String name;
    private final TextCodec codec;
    private final OptionalInt maxContext;

    /** @param codec the served model's tokenizer: asked over the network, or a local copy checked to match it */
    RemoteSourceModel(JsonHttp client, Wire.ModelInfo info, String name, TextCodec codec) {
        this.client = client;
        this.served = info.name();
        this.name = name;
        this.codec = codec;
        this.maxContext = info.maxContext() == null ? OptionalInt.empty() : OptionalInt.of(info.maxContext());
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public TextCodec codec() {
        return codec;
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        requireNonNull(promptTokens, "promptTokens is null");
        return handle(client.post(Wire.operation(served, "open"), new Wire.Open(promptTokens), Wire.State.class,
                Wire.what(served, "open")).state());
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        requireNonNull(state, "state is null");
        requireNonNull(decoding, "decoding is null");
        Wire.Step s = client.post(Wire.operation(served, "next-token"),
                new Wire.NextToken(state.id(), decoding.temperature(), decoding.topP(), decoding.uniform()), Wire.Step.class,
                Wire.what(served, "next-token"));
        return new TokenStep(s.token(), s.logProb(), handle(s.state()));
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        requireNonNull(state, "state is null");
        requireNonNull(candidates, "candidates is null");
        Wire.ScoreResult r = client.post(Wire.operation(served, "score"), new Wire.Score(state.id(), candidates),
                Wire.ScoreResult.class, Wire.what(served, "score"));
        if (r.results() == null || r.results().size() != candidates.size()) {
            throw new FusionException("model server " + client.base() + " scored " + (r.results() == null ? 0 : r.results().size())
                    + " candidates of " + candidates.size() + " for model '" + served + "'");
        }
        List<ScoredTokens> out = new ArrayList<>();
        for (Wire.Scored s : r.results()) {
            out.add(new ScoredTokens(s.logProbs(), handle(s.state())));
        }
        return out;
    }

    @Override
    public void commit(StateHandle temporary) {
        requireNonNull(temporary, "temporary is null");
        client.post(Wire.operation(served, "commit"), new Wire.State(temporary.id()), Wire.Empty.class,
                Wire.what(served, "commit"));
    }

    @Override
    public void release(Collection<StateHandle> states) {
        requireNonNull(states, "states is null");
        if (states.isEmpty()) {
            return;
        }
        client.post(Wire.operation(served, "release"), new Wire.Release(states.stream().map(StateHandle::id).toList()),
                Wire.Empty.class, Wire.what(served, "release"));
    }

    @Override
    public void commitAndRelease(StateHandle temporary, Collection<StateHandle> states) {
        requireNonNull(temporary, "temporary is null");
        requireNonNull(states, "states is null");
        client.post(Wire.operation(served, "commit-release"),
                new Wire.CommitRelease(temporary.id(), states.stream().map(StateHandle::id).toList()), Wire.Empty.class,
                Wire.what(served, "commit-release"));
    }

    @Override
    public OptionalInt maxContextTokens() {
        return maxContext;
    }

    private StateHandle handle(String id) {
        if (id == null || id.isEmpty()) {
            throw new FusionException("model server " + client.base() + " returned no state for model '" + served + "'");
        }
        return new StateHandle(id);
    }

    @Override
    public String toString() {
        return "remote model '" + served + "' at " + client.base();
    }
}
