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
import java.util.Optional;
import java.util.OptionalInt;

/** A source model served by a {@link TableOneServer}: each Table-1 call is one HTTP request. */
final class RemoteSourceModel implements SourceModel {
    private final ServedModel served;
    private final String name;
    private final TextCodec codec;
    private final OptionalInt maxContext;

    /** @param codec the served model's tokenizer: asked over the network, or a local copy checked to match it */
    RemoteSourceModel(ServedModel served, Wire.ModelInfo info, String name, TextCodec codec) {
        this.served = served;
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
        return handle(served.call("open", new Wire.Open(promptTokens), Wire.State.class).state());
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        requireNonNull(state, "state is null");
        requireNonNull(decoding, "decoding is null");
        Wire.Step s = served.call("next-token",
                new Wire.NextToken(state.id(), decoding.temperature(), decoding.topP(), decoding.uniform()), Wire.Step.class);
        return new TokenStep(s.token(), s.logProb(), handle(s.state()));
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        requireNonNull(state, "state is null");
        requireNonNull(candidates, "candidates is null");
        Wire.ScoreResult r = served.call("score", new Wire.Score(state.id(), candidates), Wire.ScoreResult.class);
        if (r.results() == null || r.results().size() != candidates.size()) {
            int got = r.results() == null ? 0 : r.results().size();
            throw new FusionException("model server " + served.base() + " scored " + got + " candidates of "
                    + candidates.size() + " for model '" + served.name() + "'");
        }
        List<ScoredTokens> out = new ArrayList<>();
        for (Wire.Scored s : r.results()) {
            out.add(new ScoredTokens(s.logProbs(), handle(s.state())));
        }
        return out;
    }

    /** What the served model answers; empty where it cannot rescale its distribution. */
    @Override
    public Optional<double[]> nllAtTemperatures(StateHandle state, List<Integer> tokens, double[] temperatures) {
        requireNonNull(state, "state is null");
        requireNonNull(tokens, "tokens is null");
        requireNonNull(temperatures, "temperatures is null");
        double[] nll = served.call("nll-at-temperatures", new Wire.Tempered(state.id(), tokens, temperatures),
                Wire.TemperedNll.class).nll();
        if (nll != null && nll.length != temperatures.length) {
            throw new FusionException("model server " + served.base() + " answered " + nll.length + " NLLs for "
                    + temperatures.length + " temperatures for model '" + served.name() + "'");
        }
        return Optional.ofNullable(nll);
    }

    @Override
    public void commit(StateHandle temporary) {
        requireNonNull(temporary, "temporary is null");
        served.call("commit", new Wire.State(temporary.id()), Wire.Empty.class);
    }

    @Override
    public void release(Collection<StateHandle> states) {
        requireNonNull(states, "states is null");
        if (states.isEmpty()) {
            return;
        }
        served.call("release", new Wire.Release(ids(states)), Wire.Empty.class);
    }

    @Override
    public void commitAndRelease(StateHandle temporary, Collection<StateHandle> states) {
        requireNonNull(temporary, "temporary is null");
        requireNonNull(states, "states is null");
        served.call("commit-release", new Wire.CommitRelease(temporary.id(), ids(states)), Wire.Empty.class);
    }

    @Override
    public OptionalInt maxContextTokens() {
        return maxContext;
    }

    /** Frees the local tokenizer copy, if any; the served model stays on its server. */
    @Override
    public void close() {
        LocalTokenizer.close(codec);
    }

    private static List<String> ids(Collection<StateHandle> states) {
        return states.stream().map(StateHandle::id).toList();
    }

    private StateHandle handle(String id) {
        if (id == null || id.isEmpty()) {
            throw new FusionException("model server " + served.base() + " returned no state for model '" + served.name()
                    + "'");
        }
        return new StateHandle(id);
    }

    @Override
    public String toString() {
        return "remote model '" + served.name() + "' at " + served.base();
    }
}
