package dev.coolfusion.core;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.segment.SegmentAligner;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ModelLogProbs;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executor;

/**
 * Cool-Fusion: fuses source models with different tokenizers, one segment per step.
 *
 * <p>One step: every source proposes a segment that ends at a word boundary all tokenizers share ({@link
 * SegmentProposer}, T1); every source scores every distinct candidate in its own tokenization ({@link
 * JointAssessor}, M3); the {@link RerankMetric} picks the winner (Eq. 3 by default); every source commits the
 * winner's state (M4) and releases the rest. The loop ends at end-of-sequence, a length limit or a stop string,
 * or when a source's context is full.
 *
 * <p>Context: the fusion counts the tokens of every source's state and never asks a source for more than its
 * {@link SourceModel#maxContextTokens()}. A prompt that leaves a source no room for one new token is a {@link
 * ContextLengthExceededException} (before any model work; nothing is truncated). During generation a source proposes
 * at most what fits (T1 falls back to the text it has when its context is full), a candidate that does not fit every
 * source's context is left out of the step, and the generation ends with {@link FinishReason#LENGTH} and all text so
 * far as soon as a source has no room left, or no candidate fits every source.
 *
 * <p>Sources work in parallel, one task per source and phase, on the configured executor. Each task touches only its
 * own source, and sampling draws are fixed per source, step and token, so the result equals a sequential run.
 *
 * <p>Instances are thread-safe: each {@link #generate} call opens its own states. The fusion does not own its
 * sources; closing them is the caller's job.
 */
public final class CoolFusion {
    private final List<SourceModel> sources;
    private final RerankMetric metric;
    private final Executor executor;
    private final List<TextCodec> codecs;

    private CoolFusion(List<SourceModel> sources, RerankMetric metric, Executor executor) {
        this.sources = List.copyOf(sources);
        this.metric = metric;
        this.executor = executor;
        this.codecs = sources.stream().map(SourceModel::codec).toList();
    }

    public static Builder builder() {
        return new Builder();
    }

    public List<SourceModel> sources() {
        return sources;
    }

    public RerankMetric metric() {
        return metric;
    }

    /** Fuses a continuation of {@code prompt}, which every source tokenizes itself (with its begin-of-sequence id). */
    public Generation generate(String prompt, FusionOptions options) {
        requireNonNull(prompt, "prompt is null");
        List<List<Integer>> prompts = new ArrayList<>();
        for (SourceModel source : sources) {
            prompts.add(source.codec().encodePrompt(prompt));
        }
        return generateFromTokens(prompts, options, StepListener.NONE);
    }

    /**
     * Fuses a continuation of per-source prompts, already tokenized by each source's codec (for example a chat
     * template rendered per model). {@code listener} sees each step as soon as its winner is committed.
     */
    public Generation generateFromTokens(List<List<Integer>> promptTokens, FusionOptions options, StepListener listener) {
        requireNonNull(promptTokens, "promptTokens is null");
        requireNonNull(options, "options is null");
        requireNonNull(listener, "listener is null");
        if (promptTokens.size() != sources.size()) {
            throw new IllegalArgumentException("need one prompt per source: " + sources.size() + " sources, "
                    + promptTokens.size() + " prompts");
        }
        for (int i = 0; i < promptTokens.size(); i++) {
            if (promptTokens.get(i).isEmpty()) {
                throw new IllegalArgumentException("the prompt for source '" + sources.get(i).name()
                        + "' is empty; give at least one token (e.g. its begin-of-sequence id)");
            }
        }
        List<SourceSession> sessions = new ArrayList<>();
        for (int i = 0; i < sources.size(); i++) {
            SourceSession session = new SourceSession(i, sources.get(i));
            checkFits(session, promptTokens.get(i).size());
            sessions.add(session);
        }
        SourceTasks tasks = new SourceTasks(executor);
        Generation result;
        try {
            tasks.run("open (M1)", sessions, s -> {
                s.committed = s.model.open(promptTokens.get(s.index));
                s.tokens = promptTokens.get(s.index).size();
                return s.committed;
            });
            result = new Run(sessions, tasks, options, listener).loop(promptTokens);
        } catch (RuntimeException | Error failure) {
            // The error that ended the generation is the one to report; a failing clean-up is attached to it.
            try {
                releaseAll(sessions);
            } catch (RuntimeException cleanup) {
                failure.addSuppressed(cleanup);
            }
            throw failure;
        }
        releaseAll(sessions);
        return result;
    }

    /** A prompt must leave every source room for at least one new token. */
    private static void checkFits(SourceSession session, int promptTokens) {
        if (promptTokens >= session.maxContext) {
            throw new ContextLengthExceededException(session.name(), promptTokens, session.maxContext, "the prompt has "
                    + promptTokens + " tokens for source '" + session.name() + "', "
                    + (promptTokens == session.maxContext ? "which fills" : "more than") + " its max context of "
                    + session.maxContext + " tokens and leaves no room for an answer; shorten the prompt (nothing is "
                    + "truncated)");
        }
    }

    /** The state of one generation. */
    private final class Run {
        private final List<SourceSession> sessions;
        private final SourceTasks tasks;
        private final FusionOptions options;
        private final StepListener listener;
        private final SegmentProposer proposer;
        private final JointAssessor assessor = new JointAssessor();
        private final StringBuilder text = new StringBuilder();
        private final List<StepTrace> steps = new ArrayList<>();
        private final int holdBack;
        private int emittedChars;
        private int outputTokens;

        Run(List<SourceSession> sessions, SourceTasks tasks, FusionOptions options, StepListener listener) {
            this.sessions = sessions;
            this.tasks = tasks;
            this.options = options;
            this.listener = listener;
            this.proposer = new SegmentProposer(codecs, options);
            this.holdBack = options.stopStrings().stream().mapToInt(String::length).max().orElse(1) - 1;
        }

        Generation loop(List<List<Integer>> promptTokens) {
            FinishReason finish = null;
            for (int step = 0; finish == null; step++) {
                finish = step(step);
            }
            Map<String, Integer> prompt = new LinkedHashMap<>();
            for (SourceSession s : sessions) {
                prompt.put(s.name(), promptTokens.get(s.index).size());
            }
            return new Generation(text.toString(), finish, steps, prompt, outputTokens);
        }

        private FinishReason step(int index) {
            long start = System.nanoTime();
            // T1: every source proposes a segment.
            List<Proposal> proposals = tasks.run("segment generation (T1)", sessions, s -> proposer.propose(s, index));
            // Only a candidate that fits every source's context can be scored and committed by all.
            List<Candidate> candidates = new ArrayList<>();
            List<List<List<Integer>>> ids = new ArrayList<>();
            sessions.forEach(s -> ids.add(new ArrayList<>()));
            for (Candidate candidate : distinct(proposals)) {
                List<List<Integer>> bySource = new ArrayList<>(sessions.size());
                boolean fits = true;
                for (SourceSession s : sessions) {
                    List<Integer> own = JointAssessor.ids(s, candidate, proposals.get(s.index));
                    fits &= own.size() <= s.room();
                    bySource.add(own);
                }
                if (fits) {
                    candidates.add(candidate);
                    for (SourceSession s : sessions) {
                        ids.get(s.index).add(bySource.get(s.index));
                    }
                }
            }
            if (candidates.isEmpty()) {
                return outOfContext(index, start);
            }
            // M3: every source scores every candidate in its own tokenization.
            List<JointAssessor.Assessment> assessments = tasks.run("joint assessment (M3)", sessions,
                    s -> assessor.assess(s, candidates, proposals.get(s.index), ids.get(s.index)));
            // Rerank: the metric scores every candidate once and picks the winner.
            List<CandidateEvidence> evidence = evidence(candidates, assessments);
            RerankMetric.Ranking ranking = metric.rank(evidence);
            int winner = ranking.winner();
            Candidate won = candidates.get(winner);
            // M4: every source commits the winner and releases everything else.
            tasks.run("state update (M4)", sessions, s -> {
                commit(s, assessments.get(s.index), winner, won, proposals.get(s.index));
                return Boolean.TRUE;
            });

            FinishReason finish = append(won, assessments.get(0).ids().get(winner), sessions.get(0));
            if (finish == null && sessions.stream().anyMatch(s -> s.room() < 1)) {
                finish = FinishReason.LENGTH; // a source's context is full
            }
            String emitted = emit(finish != null);
            StepTrace trace = new StepTrace(index, traces(candidates, evidence, ranking), winner, emitted,
                    Optional.ofNullable(finish), System.nanoTime() - start);
            steps.add(trace);
            listener.onStep(trace);
            return finish;
        }

        /**
         * Ends the generation in a step where no candidate fits every source's context: its trace has one empty
         * candidate that nobody proposed and that adds nothing, and emits the text still held back.
         */
        private FinishReason outOfContext(int index, long start) {
            List<ModelLogProbs> none = sessions.stream().map(s -> new ModelLogProbs(s.name(), List.of())).toList();
            CandidateTrace nothing = new CandidateTrace("", false, List.of(), none, Map.of(), Double.NaN);
            StepTrace trace = new StepTrace(index, List.of(nothing), 0, emit(true), Optional.of(FinishReason.LENGTH),
                    System.nanoTime() - start);
            steps.add(trace);
            listener.onStep(trace);
            return FinishReason.LENGTH;
        }

        /** The distinct non-empty proposals; none at all is an error unless a source's context is full. */
        private List<Candidate> distinct(List<Proposal> proposals) {
            Map<String, List<Integer>> byKey = new LinkedHashMap<>();
            Map<String, Proposal> first = new LinkedHashMap<>();
            for (Proposal p : proposals) {
                if (p.text().isEmpty() && !p.endOfSequence()) {
                    continue;
                }
                String key = (p.endOfSequence() ? "1" : "0") + p.text();
                byKey.computeIfAbsent(key, k -> new ArrayList<>()).add(p.source());
                first.putIfAbsent(key, p);
            }
            if (byKey.isEmpty()) {
                if (proposals.stream().anyMatch(Proposal::contextFull)) {
                    return List.of();
                }
                throw new FusionException("no source proposed a segment in this step");
            }
            List<Candidate> out = new ArrayList<>();
            byKey.forEach((key, who) -> out.add(new Candidate(first.get(key).text(), first.get(key).endOfSequence(), List.copyOf(who))));
            return out;
        }

        private List<CandidateEvidence> evidence(List<Candidate> candidates, List<JointAssessor.Assessment> assessments) {
            List<CandidateEvidence> out = new ArrayList<>(candidates.size());
            for (int c = 0; c < candidates.size(); c++) {
                List<ModelLogProbs> byModel = new ArrayList<>(sessions.size());
                for (SourceSession s : sessions) {
                    byModel.add(new ModelLogProbs(s.name(), assessments.get(s.index).logProbs().get(c)));
                }
                out.add(new CandidateEvidence(candidates.get(c).text(), candidates.get(c).endOfSequence(), byModel));
            }
            return out;
        }

        private List<CandidateTrace> traces(List<Candidate> candidates, List<CandidateEvidence> evidence,
                RerankMetric.Ranking ranking) {
            List<CandidateTrace> out = new ArrayList<>(candidates.size());
            for (int c = 0; c < candidates.size(); c++) {
                Candidate candidate = candidates.get(c);
                List<String> proposers = candidate.proposers().stream().map(i -> sessions.get(i).name()).toList();
                out.add(new CandidateTrace(candidate.text(), candidate.endOfSequence(), proposers,
                        evidence.get(c).byModel(), ranking.modelScores().get(c), ranking.score(c)));
            }
            return out;
        }

        private void commit(SourceSession s, JointAssessor.Assessment assessment, int winner, Candidate won, Proposal own) {
            StateHandle next = assessment.states().get(winner);
            Set<StateHandle> keep = new HashSet<>();
            List<StateHandle> release = new ArrayList<>();
            int used = assessment.ids().get(winner).size();
            if (next != null) {
                keep.add(next);
                release.add(s.committed);
                s.committed = next;
                s.tokens += used;
            }
            boolean ownWin = won.proposers().contains(s.index) && next != null && !won.endOfSequence()
                    && used > 0 && used < own.tokens().size() && own.states().get(used - 1).equals(next);
            if (ownWin && options.reuseLookahead()) {
                s.ahead.addAll(own.steps().subList(used, own.steps().size()));
                s.ahead.forEach(step -> keep.add(step.state()));
            }
            for (StateHandle h : s.stepStates) {
                if (!keep.contains(h)) {
                    release.add(h);
                }
            }
            s.stepStates.clear();
            if (next != null) {
                s.model.commitAndRelease(next, release);
            } else {
                s.model.release(release);
            }
        }

        /** Appends the winner and applies end-of-sequence, stop strings and limits; returns the finish, if any. */
        private FinishReason append(Candidate won, List<Integer> firstSourceIds, SourceSession first) {
            int before = text.length();
            text.append(won.text());
            List<Integer> ids = firstSourceIds;
            if (won.endOfSequence() && !ids.isEmpty() && first.codec.endOfSequenceIds().contains(ids.get(ids.size() - 1))) {
                ids = ids.subList(0, ids.size() - 1); // the end-of-sequence token is not output
            }
            FinishReason finish = won.endOfSequence() ? FinishReason.END_OF_SEQUENCE : null;
            int stopAt = firstStop(before);
            if (stopAt >= 0) {
                text.setLength(stopAt);
                finish = FinishReason.STOP;
                ids = stopAt > before ? first.codec.encodeContinuation(text.substring(before)).ids() : List.of();
            }
            int allowed = options.maxNewTokens() - outputTokens;
            if (ids.size() > allowed) {
                text.setLength(before);
                text.append(SegmentAligner.decodablePrefix(first.codec.decodeContinuation(ids.subList(0, allowed))));
                ids = ids.subList(0, allowed);
                finish = FinishReason.LENGTH;
            } else if (ids.size() == allowed && finish == null) {
                finish = FinishReason.LENGTH;
            }
            outputTokens += ids.size();
            if (text.length() > options.maxNewChars()) {
                text.setLength(options.maxNewChars());
                finish = FinishReason.LENGTH;
            } else if (text.length() == options.maxNewChars() && finish == null) {
                finish = FinishReason.LENGTH;
            }
            return finish;
        }

        private int firstStop(int appendedFrom) {
            int best = -1;
            for (String stop : options.stopStrings()) {
                int at = text.indexOf(stop, Math.max(0, appendedFrom - stop.length() + 1));
                if (at >= 0 && (best < 0 || at < best)) {
                    best = at;
                }
            }
            return best;
        }

        /** Emits new text, holding back a tail that may still grow into a stop string. */
        private String emit(boolean last) {
            int safe = text.length();
            if (!last) {
                for (int len = Math.min(holdBack, text.length()); len > 0; len--) {
                    String tail = text.substring(text.length() - len);
                    if (options.stopStrings().stream().anyMatch(stop -> stop.startsWith(tail))) {
                        safe = text.length() - len;
                        break;
                    }
                }
            }
            safe = Math.max(safe, emittedChars);
            String out = text.substring(emittedChars, safe);
            emittedChars = safe;
            return out;
        }
    }

    private static void releaseAll(List<SourceSession> sessions) {
        RuntimeException failure = null;
        for (SourceSession s : sessions) {
            try {
                List<StateHandle> all = s.allStates();
                if (!all.isEmpty()) {
                    s.model.release(all);
                }
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
            s.committed = null;
            s.stepStates.clear();
            s.ahead.clear();
        }
        if (failure != null) {
            throw new FusionException("releasing model states failed: " + failure.getMessage(), failure);
        }
    }

    /** Builds a fusion from source models and a metric, without Guice. */
    public static final class Builder {
        private final List<SourceModel> sources = new ArrayList<>();
        private RerankMetric metric = new AveragePerplexity();
        private Executor executor;

        private Builder() {}

        public Builder addSource(SourceModel source) {
            sources.add(requireNonNull(source, "source is null"));
            return this;
        }

        public Builder sources(List<? extends SourceModel> sources) {
            requireNonNull(sources, "sources is null").forEach(this::addSource);
            return this;
        }

        public Builder metric(RerankMetric metric) {
            this.metric = requireNonNull(metric, "metric is null");
            return this;
        }

        /** Where per-source tasks run; {@code Runnable::run} runs them sequentially. Default: a shared pool. */
        public Builder executor(Executor executor) {
            this.executor = requireNonNull(executor, "executor is null");
            return this;
        }

        public CoolFusion build() {
            if (sources.isEmpty()) {
                throw new IllegalStateException("no sources: add at least one source model with addSource(...)");
            }
            Set<String> names = new HashSet<>();
            for (SourceModel source : sources) {
                if (!names.add(source.name())) {
                    throw new IllegalStateException("two sources are named '" + source.name()
                            + "': give each source a unique name");
                }
            }
            return new CoolFusion(sources, metric, executor == null ? FusionExecutors.shared() : executor);
        }
    }
}
