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
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;

/**
 * Cool-Fusion: fuses source models with different tokenizers, one segment per step.
 *
 * <p>One step: every source proposes a segment that ends at a word boundary all tokenizers share ({@link
 * SegmentProposer}, T1); every source scores every distinct candidate in its own tokenization ({@link
 * JointAssessor}, M3); the {@link RerankMetric} picks the winner (Eq. 3 by default); every source commits the
 * winner's state (M4) and releases the rest. The loop ends at end-of-sequence, a length limit or a stop string,
 * or when a source's context is full.
 *
 * <p>Proposer-only sources ({@link SourceModel#canScore()} false) propose segments but are not asked to score: the
 * metric sees the scoring sources only, and such a source follows the winner through {@link SourceModel#append}
 * (its own generation state where it won with its own tokens). A fusion needs at least one source that scores.
 *
 * <p>Failures: with {@link SourceFailurePolicy#FAIL} (the default) the first failing call ends the generation with
 * its error, naming the source and the phase, and clean-up failures attached as suppressed. With {@link
 * SourceFailurePolicy#DROP} a failing source is left out from that step on (its states released best effort) and
 * the step goes on with the others; {@link StepTrace#dropped()} and {@link Generation#dropped()} say who and why.
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
 * <p>Instances are thread-safe: each {@link #generate} call opens its own states. What they share is the memo of
 * each source's tokenizer ({@link CachedCodec}), which only saves repeated tokenizer calls. The fusion does not own its
 * sources; closing them is the caller's job.
 */
public final class CoolFusion {
    private final List<SourceModel> sources;
    /** Each source's tokenizer behind this fusion's memo, shared by all its generations (issue 16). */
    private final List<CachedCodec> codecs;
    private final RerankMetric metric;
    private final Executor executor;

    private CoolFusion(List<SourceModel> sources, RerankMetric metric, Executor executor) {
        this.sources = List.copyOf(sources);
        this.codecs = this.sources.stream().map(source -> new CachedCodec(source.codec())).toList();
        this.metric = metric;
        this.executor = executor;
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
            SourceSession session = new SourceSession(i, sources.get(i), codecs.get(i));
            checkFits(session, promptTokens.get(i).size());
            sessions.add(session);
        }
        SourceTasks tasks = new SourceTasks(executor);
        Generation result;
        try {
            Run run = new Run(sessions, tasks, options, listener);
            run.open(promptTokens);
            result = run.loop(promptTokens);
        } catch (RuntimeException | Error failure) {
            // The error that ended the generation is the one to report; a failing clean-up is attached to it.
            try {
                releaseAll(sessions, tasks);
            } catch (RuntimeException cleanup) {
                failure.addSuppressed(cleanup);
            }
            throw failure;
        }
        releaseAll(sessions, tasks);
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
        private static final String OPEN = "open (M1)";
        private static final String T1 = "segment generation (T1)";
        private static final String M3 = "joint assessment (M3)";
        private static final String M4 = "state update (M4)";

        private final List<SourceSession> sessions;
        /** The sources still in the fusion, in source order: all of them unless a failure dropped some. */
        private final List<SourceSession> active;
        private final SourceTasks tasks;
        private final FusionOptions options;
        private final StepListener listener;
        private final SegmentProposer proposer;
        private final JointAssessor assessor;
        private final StringBuilder text = new StringBuilder();
        private final List<StepTrace> steps = new ArrayList<>();
        private final List<DroppedSource> dropped = new ArrayList<>();
        /** The sources dropped in the current step (reset by each step). */
        private List<DroppedSource> droppedNow = new ArrayList<>();
        private final int holdBack;
        private int emittedChars;
        private int outputTokens;

        Run(List<SourceSession> sessions, SourceTasks tasks, FusionOptions options, StepListener listener) {
            this.sessions = sessions;
            this.active = new ArrayList<>(sessions);
            this.tasks = tasks;
            this.options = options;
            this.listener = listener;
            this.proposer = new SegmentProposer(options);
            this.assessor = new JointAssessor(options);
            this.holdBack = options.stopStrings().stream().mapToInt(String::length).max().orElse(1) - 1;
        }

        void open(List<List<Integer>> promptTokens) {
            phase(OPEN, 0, s -> {
                s.committed = s.model.open(promptTokens.get(s.index));
                s.tokens = promptTokens.get(s.index).size();
                return s.committed;
            });
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
            return new Generation(text.toString(), finish, steps, prompt, outputTokens, dropped);
        }

        /**
         * Runs one phase on the active sources. Under {@link SourceFailurePolicy#FAIL} the first failure ends the
         * generation; under {@link SourceFailurePolicy#DROP} each failing source is dropped and the others' results
         * come back. Results are indexed by source index (null for a source not active or dropped now).
         */
        private <T> List<T> phase(String phase, int step, java.util.function.Function<SourceSession, T> task) {
            List<SourceSession> running = List.copyOf(active);
            List<T> bySource = new ArrayList<>(java.util.Collections.nCopies(sessions.size(), null));
            if (options.onSourceFailure() == SourceFailurePolicy.FAIL) {
                List<T> results = tasks.run(phase, running, task);
                for (int i = 0; i < running.size(); i++) {
                    bySource.set(running.get(i).index, results.get(i));
                }
                return bySource;
            }
            SourceTasks.Results<T> results = tasks.runAll(phase, running, task);
            for (int i = 0; i < running.size(); i++) {
                bySource.set(running.get(i).index, results.results().get(i));
            }
            for (SourceTasks.Failure failure : results.failures()) {
                drop(failure, step);
            }
            if (!results.failures().isEmpty() && (active.isEmpty() || active.stream().noneMatch(a -> a.model.canScore()))) {
                String why = dropped.stream().map(DroppedSource::describe).collect(Collectors.joining("; "));
                throw new FusionException((active.isEmpty() ? "every source failed"
                        : "no source that can score is left (" + active.stream().map(SourceSession::name)
                                .collect(Collectors.joining(", ")) + " only propose)")
                        + " (on-source-failure: drop): " + why, results.failures().get(0).cause());
            }
            return bySource;
        }

        /** Leaves a failed source out from now on: releases its states (best effort) and records why. */
        private void drop(SourceTasks.Failure failure, int step) {
            SourceSession s = failure.session();
            active.remove(s);
            Optional<String> releaseError = Optional.empty();
            try {
                List<StateHandle> all = s.allStates();
                if (!all.isEmpty()) {
                    s.model.release(all);
                }
            } catch (RuntimeException e) {
                releaseError = Optional.of(e.getMessage() == null ? e.toString() : e.getMessage());
            }
            s.committed = null;
            s.stepStates.clear();
            s.ahead.clear();
            DroppedSource record = new DroppedSource(s.name(), step, failure.phase(), failure.message(), releaseError);
            dropped.add(record);
            droppedNow.add(record);
        }

        private FinishReason step(int index) {
            long start = System.nanoTime();
            droppedNow = new ArrayList<>();
            // T1: every source proposes a segment.
            List<Proposal> proposals = phase(T1, index, s -> proposer.propose(s, index, List.copyOf(active)));
            // Only a candidate that fits every source's context can be scored and committed by all.
            List<Candidate> candidates = new ArrayList<>();
            List<List<List<Integer>>> ids = new ArrayList<>();
            sessions.forEach(s -> ids.add(new ArrayList<>()));
            for (Candidate candidate : distinct(proposals)) {
                List<List<Integer>> bySource = new ArrayList<>(java.util.Collections.nCopies(sessions.size(), null));
                boolean fits = true;
                for (SourceSession s : active) {
                    List<Integer> own = JointAssessor.ids(s, candidate, proposals.get(s.index));
                    fits &= own.size() <= s.room();
                    bySource.set(s.index, own);
                }
                if (fits) {
                    candidates.add(candidate);
                    for (SourceSession s : active) {
                        ids.get(s.index).add(bySource.get(s.index));
                    }
                }
            }
            if (candidates.isEmpty()) {
                return outOfContext(index, start);
            }
            // M3: every source that can scores every candidate in its own tokenization.
            List<JointAssessor.Assessment> assessments = phase(M3, index,
                    s -> assessor.assess(s, candidates, proposals.get(s.index), ids.get(s.index)));
            // A source dropped in M3 proposed nothing that counts: its candidates go unless another proposed them too.
            List<Integer> kept = new ArrayList<>();
            List<Candidate> standing = new ArrayList<>();
            for (int c = 0; c < candidates.size(); c++) {
                List<Integer> proposers = candidates.get(c).proposers().stream()
                        .filter(p -> active.contains(sessions.get(p))).toList();
                if (!proposers.isEmpty()) {
                    kept.add(c);
                    Candidate was = candidates.get(c);
                    standing.add(new Candidate(was.text(), was.endOfSequence(), proposers));
                }
            }
            if (standing.isEmpty()) {
                return outOfContext(index, start);
            }
            // Rerank: the metric scores every candidate once, from the sources that can score, and picks the winner.
            List<CandidateEvidence> evidence = evidence(standing, kept, assessments);
            RerankMetric.Ranking ranking = metric.rank(evidence);
            int winner = ranking.winner();
            Candidate won = standing.get(winner);
            int wonAt = kept.get(winner);
            // M4: every source commits the winner and releases everything else.
            phase(M4, index, s -> {
                commit(s, assessments.get(s.index), wonAt, won, proposals.get(s.index));
                return Boolean.TRUE;
            });

            SourceSession first = active.get(0);
            FinishReason finish = append(won, assessments.get(first.index).ids().get(wonAt), first);
            if (finish == null && active.stream().anyMatch(s -> s.room() < 1)) {
                finish = FinishReason.LENGTH; // a source's context is full
            }
            String emitted = emit(finish != null);
            StepTrace trace = new StepTrace(index, traces(standing, evidence, ranking), winner, emitted,
                    Optional.ofNullable(finish), System.nanoTime() - start, droppedNow);
            steps.add(trace);
            listener.onStep(trace);
            return finish;
        }

        /**
         * Ends the generation in a step where no candidate fits every source's context: its trace has one empty
         * candidate that nobody proposed and that adds nothing, and emits the text still held back.
         */
        private FinishReason outOfContext(int index, long start) {
            List<ModelLogProbs> none = active.stream().filter(s -> s.model.canScore())
                    .map(s -> new ModelLogProbs(s.name(), List.of())).toList();
            CandidateTrace nothing = new CandidateTrace("", false, List.of(), none, Map.of(), Double.NaN);
            StepTrace trace = new StepTrace(index, List.of(nothing), 0, emit(true), Optional.of(FinishReason.LENGTH),
                    System.nanoTime() - start, droppedNow);
            steps.add(trace);
            listener.onStep(trace);
            return FinishReason.LENGTH;
        }

        /** The distinct non-empty proposals; none at all is an error unless a source's context is full. */
        private List<Candidate> distinct(List<Proposal> proposals) {
            Map<String, List<Integer>> byKey = new LinkedHashMap<>();
            Map<String, Proposal> first = new LinkedHashMap<>();
            for (Proposal p : proposals) {
                if (p == null || (p.text().isEmpty() && !p.endOfSequence())) {
                    continue;
                }
                String key = (p.endOfSequence() ? "1" : "0") + p.text();
                byKey.computeIfAbsent(key, k -> new ArrayList<>()).add(p.source());
                first.putIfAbsent(key, p);
            }
            if (byKey.isEmpty()) {
                if (proposals.stream().anyMatch(p -> p != null && p.contextFull())) {
                    return List.of();
                }
                throw new FusionException("no source proposed a segment in this step");
            }
            List<Candidate> out = new ArrayList<>();
            byKey.forEach((key, who) -> out.add(new Candidate(first.get(key).text(), first.get(key).endOfSequence(), List.copyOf(who))));
            return out;
        }

        /** The evidence of the scoring sources for each standing candidate ({@code at[c]} indexes the assessments). */
        private List<CandidateEvidence> evidence(List<Candidate> candidates, List<Integer> at,
                List<JointAssessor.Assessment> assessments) {
            List<CandidateEvidence> out = new ArrayList<>(candidates.size());
            for (int c = 0; c < candidates.size(); c++) {
                List<ModelLogProbs> byModel = new ArrayList<>(active.size());
                for (SourceSession s : active) {
                    JointAssessor.Assessment a = assessments.get(s.index);
                    if (a.scored()) {
                        byModel.add(new ModelLogProbs(s.name(), a.logProbs().get(at.get(c))));
                    }
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
            List<Integer> winnerIds = assessment.ids().get(winner);
            int used = winnerIds.size();
            if (next == null && used > 0) {
                // A proposer-only source follows a winner it did not generate itself.
                next = s.model.append(s.committed, winnerIds);
                s.stepStates.add(next);
            }
            Set<StateHandle> keep = new HashSet<>();
            List<StateHandle> release = new ArrayList<>();
            if (next != null) {
                keep.add(next);
                release.add(s.committed);
            }
            boolean ownWin = won.proposers().contains(s.index) && next != null && !won.endOfSequence()
                    && used > 0 && used < own.tokens().size() && own.states().get(used - 1).equals(next);
            List<TokenStep> ahead = ownWin && options.reuseLookahead()
                    ? own.steps().subList(used, own.steps().size()) : List.of();
            ahead.forEach(step -> keep.add(step.state()));
            for (StateHandle h : s.stepStates) {
                if (!keep.contains(h)) {
                    release.add(h);
                }
            }
            // The session changes only once the source has done it, so that a failing call leaves every state known.
            if (next != null) {
                s.model.commitAndRelease(next, release);
                s.committed = next;
                s.tokens += used;
            } else {
                s.model.release(release);
            }
            s.stepStates.clear();
            s.ahead.addAll(ahead);
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

    /**
     * Releases every state the sessions still hold. A session whose task of an abandoned phase still runs is
     * released once that task finishes ({@link SourceTasks#whenIdle}).
     */
    private static void releaseAll(List<SourceSession> sessions, SourceTasks tasks) {
        RuntimeException failure = null;
        for (SourceSession s : sessions) {
            try {
                tasks.whenIdle(s, () -> {
                    try {
                        List<StateHandle> all = s.allStates();
                        if (!all.isEmpty()) {
                            s.model.release(all);
                        }
                    } finally {
                        s.committed = null;
                        s.stepStates.clear();
                        s.ahead.clear();
                    }
                });
            } catch (RuntimeException e) {
                RuntimeException named = new FusionException("releasing the states of source '" + s.name()
                        + "' failed: " + e.getMessage(), e);
                if (failure == null) {
                    failure = named;
                } else {
                    failure.addSuppressed(named);
                }
            }
        }
        if (failure != null) {
            throw failure;
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
            if (sources.stream().noneMatch(SourceModel::canScore)) {
                throw new IllegalStateException("no source can score (canScore() is false for "
                        + sources.stream().map(SourceModel::name).collect(Collectors.joining(", "))
                        + "): the rerank needs at least one source that scores candidates; add one");
            }
            return new CoolFusion(sources, metric, executor == null ? FusionExecutors.shared() : executor);
        }
    }
}
