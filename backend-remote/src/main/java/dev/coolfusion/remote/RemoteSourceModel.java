package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.remote.proto.AppendRequest;
import dev.coolfusion.remote.proto.Candidate;
import dev.coolfusion.remote.proto.CommitAndReleaseRequest;
import dev.coolfusion.remote.proto.CommitRequest;
import dev.coolfusion.remote.proto.ExportTokenizerRequest;
import dev.coolfusion.remote.proto.ModelInfo;
import dev.coolfusion.remote.proto.NextTextRequest;
import dev.coolfusion.remote.proto.NextTextResponse;
import dev.coolfusion.remote.proto.NextTokenRequest;
import dev.coolfusion.remote.proto.NllAtTemperaturesRequest;
import dev.coolfusion.remote.proto.NllAtTemperaturesResponse;
import dev.coolfusion.remote.proto.OpenRequest;
import dev.coolfusion.remote.proto.RegisterTokenizerRequest;
import dev.coolfusion.remote.proto.ReleaseRequest;
import dev.coolfusion.remote.proto.ScoreRequest;
import dev.coolfusion.remote.proto.ScoreResponse;
import dev.coolfusion.remote.proto.TokenizerFiles;
import dev.coolfusion.remote.proto.TokenizerRef;
import dev.coolfusion.spi.Alignment;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.Sampling;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SegmentChoice;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A source model served by a worker ({@link TableOneServer}): each Table-1 call is one gRPC call with a deadline, and
 * T1 ({@link #nextText}) is one {@code NextText} call per segment unless {@code worker-t1} is off.
 */
final class RemoteSourceModel implements SourceModel {
    private final ServedModel served;
    private final ModelInfo info;
    private final String name;
    private final TextCodec codec;
    private final OptionalInt maxContext;
    private final boolean workerT1;
    private final Optional<Path> fetchedTokenizer;

    /**
     * @param codec            the served model's tokenizer: asked over the network, or a local copy that matches it
     * @param fetchedTokenizer the folder of a copy fetched from the worker, deleted on {@link #close()}
     */
    RemoteSourceModel(ServedModel served, ModelInfo info, String name, TextCodec codec, boolean workerT1,
            Optional<Path> fetchedTokenizer) {
        this.served = served;
        this.info = info;
        this.name = name;
        this.codec = codec;
        this.workerT1 = workerT1;
        this.fetchedTokenizer = fetchedTokenizer;
        this.maxContext = info.getMaxContext() > 0 ? OptionalInt.of(info.getMaxContext()) : OptionalInt.empty();
        served.source(name);
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
    public boolean canScore() {
        return info.getCanScore();
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        requireNonNull(promptTokens, "promptTokens is null");
        return handle(served.call("Open", s -> s.open(OpenRequest.newBuilder().setModel(served.name())
                .addAllTokens(promptTokens).build())).getState());
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        requireNonNull(state, "state is null");
        requireNonNull(decoding, "decoding is null");
        var step = served.call("NextToken", s -> s.nextToken(NextTokenRequest.newBuilder().setModel(served.name())
                .setState(state.id()).setDecoding(dev.coolfusion.remote.proto.Decoding.newBuilder()
                        .setTemperature(decoding.temperature()).setTopP(decoding.topP()).setUniform(decoding.uniform()))
                .build()));
        return new TokenStep(step.getToken(), step.getLogProb(), handle(step.getState()));
    }

    /**
     * T1 on the worker: one {@code NextText} call (two more, once per tokenizer the worker lacks, to register it). Empty
     * (the caller then generates token by token) when {@code worker-t1} is off or a tokenizer of the fusion has no
     * digest to name it by.
     */
    @Override
    public Optional<ProposedSegment> nextText(SegmentRequest request) {
        requireNonNull(request, "request is null");
        if (!workerT1) {
            return Optional.empty();
        }
        NextTextRequest.Builder b = NextTextRequest.newBuilder().setModel(served.name()).setState(request.from().id())
                .setRoom(request.room()).setSelf(request.self()).setMaxSegmentTokens(request.maxSegmentTokens())
                .setChoice(request.choice() == SegmentChoice.LONGEST
                        ? dev.coolfusion.remote.proto.SegmentChoice.SEGMENT_CHOICE_LONGEST
                        : dev.coolfusion.remote.proto.SegmentChoice.SEGMENT_CHOICE_SHORTEST)
                .setAlignment(request.alignment() == Alignment.OWN ? dev.coolfusion.remote.proto.Alignment.ALIGNMENT_OWN
                        : dev.coolfusion.remote.proto.Alignment.ALIGNMENT_ALL);
        for (int i = 0; i < request.codecs().size(); i++) {
            TextCodec c = request.codecs().get(i).unwrap();
            if (i == request.self()) {
                b.addTokenizers(TokenizerRef.newBuilder().setDigest(info.getCodecDigest()));
                continue;
            }
            Optional<String> digest = c.digest();
            if (digest.isEmpty()) {
                return Optional.empty(); // a tokenizer no worker can be told about: T1 runs here, token by token
            }
            b.addTokenizers(TokenizerRef.newBuilder().setDigest(digest.get())
                    .setFolder(c instanceof HfTextCodec hf ? hf.directory().toString() : ""));
        }
        for (TokenStep a : request.ahead()) {
            b.addAhead(dev.coolfusion.remote.proto.TokenStep.newBuilder().setToken(a.token()).setLogProb(a.logProb())
                    .setState(a.state().id()));
        }
        Sampling sp = request.sampling();
        b.setSampling(dev.coolfusion.remote.proto.Sampling.newBuilder().setTemperature(sp.temperature())
                .setTopP(sp.topP()).setSeed(sp.seed()).setStep(sp.step()).setSource(sp.source()));
        NextTextRequest call = b.build();
        NextTextResponse r;
        try {
            r = served.attempt(s -> s.nextText(call));
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.FAILED_PRECONDITION) {
                throw served.failure("NextText", e);
            }
            Metadata trailers = Status.trailersFromThrowable(e);
            Iterable<String> unknown = trailers == null ? null : trailers.getAll(TableOneServer.UNKNOWN_TOKENIZER);
            if (unknown == null) {
                throw served.failure("NextText", e);
            }
            // Registered once per failed call (a restarted worker may have lost what it was sent before), then one
            // retry, whose failure is final: no loop.
            for (String digest : unknown) {
                register(digest, request.codecs());
            }
            r = served.call("NextText", s -> s.nextText(call));
        }
        List<TokenStep> steps = new ArrayList<>();
        for (var step : r.getStepsList()) {
            steps.add(new TokenStep(step.getToken(), step.getLogProb(), handle(step.getState())));
        }
        return Optional.of(new ProposedSegment(r.getText(), r.getEndOfSequence(), steps, r.getSegmentTokens(),
                r.getContextFull()));
    }

    /** Sends the worker the files of the fusion's tokenizer with {@code digest}. */
    private void register(String digest, List<TextCodec> codecs) {
        TextCodec codec = codecs.stream().map(TextCodec::unwrap)
                .filter(c -> c.digest().filter(digest::equals).isPresent()).findFirst()
                .orElseThrow(() -> new FusionException("worker " + served.target() + " asks for tokenizer " + digest
                        + ", which no source of this fusion has"));
        TokenizerFiles files;
        Optional<TokenizerFiles> local = TokenizerTransfer.of(codec);
        if (local.isPresent()) {
            files = local.get();
        } else if (codec instanceof RemoteTextCodec remote) {
            ServedModel owner = remote.served();
            files = owner.call("ExportTokenizer", s -> s.exportTokenizer(ExportTokenizerRequest.newBuilder()
                    .setModel(owner.name()).build()));
        } else {
            throw new FusionException("worker " + served.target() + " lacks the tokenizer " + digest + " (" + codec
                    + "), and this client has no files of it to send; set worker-t1: false for source '" + name + "'");
        }
        served.call("RegisterTokenizer", s -> s.registerTokenizer(RegisterTokenizerRequest.newBuilder()
                .setTokenizer(files).build()));
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        requireNonNull(state, "state is null");
        requireNonNull(candidates, "candidates is null");
        ScoreRequest.Builder b = ScoreRequest.newBuilder().setModel(served.name()).setState(state.id());
        for (List<Integer> c : candidates) {
            b.addCandidates(Candidate.newBuilder().addAllTokens(c));
        }
        ScoreResponse r = served.call("Score", s -> s.score(b.build()));
        if (r.getResultsCount() != candidates.size()) {
            throw new FusionException("worker " + served.target() + " scored " + r.getResultsCount() + " candidates of "
                    + candidates.size() + " for model '" + served.name() + "'");
        }
        List<ScoredTokens> out = new ArrayList<>();
        for (var s : r.getResultsList()) {
            out.add(new ScoredTokens(List.copyOf(s.getLogProbsList()), handle(s.getState())));
        }
        return out;
    }

    @Override
    public StateHandle append(StateHandle state, List<Integer> tokens) {
        requireNonNull(state, "state is null");
        requireNonNull(tokens, "tokens is null");
        return handle(served.call("Append", s -> s.append(AppendRequest.newBuilder().setModel(served.name())
                .setState(state.id()).addAllTokens(tokens).build())).getState());
    }

    /** What the served model answers; empty where it cannot rescale its distribution. */
    @Override
    public Optional<double[]> nllAtTemperatures(StateHandle state, List<Integer> tokens, double[] temperatures) {
        requireNonNull(state, "state is null");
        requireNonNull(tokens, "tokens is null");
        requireNonNull(temperatures, "temperatures is null");
        NllAtTemperaturesRequest.Builder b = NllAtTemperaturesRequest.newBuilder().setModel(served.name())
                .setState(state.id()).addAllTokens(tokens);
        for (double t : temperatures) {
            b.addTemperatures(t);
        }
        NllAtTemperaturesResponse r = served.call("NllAtTemperatures", s -> s.nllAtTemperatures(b.build()));
        if (!r.getSupported()) {
            return Optional.empty();
        }
        if (r.getNllCount() != temperatures.length) {
            throw new FusionException("worker " + served.target() + " answered " + r.getNllCount() + " NLLs for "
                    + temperatures.length + " temperatures for model '" + served.name() + "'");
        }
        return Optional.of(r.getNllList().stream().mapToDouble(Double::doubleValue).toArray());
    }

    @Override
    public void commit(StateHandle temporary) {
        requireNonNull(temporary, "temporary is null");
        served.call("Commit", s -> s.commit(CommitRequest.newBuilder().setModel(served.name()).setState(temporary.id())
                .build()));
    }

    @Override
    public void release(Collection<StateHandle> states) {
        requireNonNull(states, "states is null");
        if (states.isEmpty()) {
            return;
        }
        served.call("Release", s -> s.release(ReleaseRequest.newBuilder().setModel(served.name())
                .addAllStates(ids(states)).build()));
    }

    @Override
    public void commitAndRelease(StateHandle temporary, Collection<StateHandle> states) {
        requireNonNull(temporary, "temporary is null");
        requireNonNull(states, "states is null");
        served.call("CommitAndRelease", s -> s.commitAndRelease(CommitAndReleaseRequest.newBuilder()
                .setModel(served.name()).setState(temporary.id()).addAllStates(ids(states)).build()));
    }

    @Override
    public OptionalInt maxContextTokens() {
        return maxContext;
    }

    @Override
    public OptionalInt vocabularySize() {
        return info.getVocabularySize() > 0 ? OptionalInt.of(info.getVocabularySize()) : OptionalInt.empty();
    }

    /** Frees the local tokenizer copy, if any, and the connection; the served model stays on its worker. */
    @Override
    public void close() {
        try {
            if (codec instanceof HfTextCodec local) {
                local.close(); // a local copy of the tokenizer; a remote codec holds nothing
            }
        } finally {
            served.close();
            fetchedTokenizer.ifPresent(dir -> {
                try {
                    TokenizerTransfer.deleteTree(dir);
                } catch (java.io.IOException e) {
                    // a temporary directory; the operating system cleans it up eventually
                }
            });
        }
    }

    private static List<String> ids(Collection<StateHandle> states) {
        return states.stream().map(StateHandle::id).toList();
    }

    private StateHandle handle(String id) {
        if (id == null || id.isEmpty()) {
            throw new FusionException("worker " + served.target() + " returned no state for model '" + served.name()
                    + "'");
        }
        return new StateHandle(id);
    }

    @Override
    public String toString() {
        return "remote model '" + served.name() + "' at " + served.target();
    }
}
