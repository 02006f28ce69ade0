package dev.coolfusion.eval;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.Alignment;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.StepTrace;
import dev.coolfusion.core.WholeAnswers;
import dev.coolfusion.core.metric.AveragePerplexity;
import dev.coolfusion.spi.CandidateEvidence;
import dev.coolfusion.spi.ContextLengthExceededException;
import dev.coolfusion.spi.RerankMetric;
import dev.coolfusion.spi.SourceModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs {@link EvalMethod}s on GSM8K items with few-shot prompts and greedy decoding, over any {@link SourceModel}s.
 * Within one item, outputs are shared between methods: rerank reuses each source's single answer and cool+rerank
 * reuses the Cool-Fusion answer, so each is generated once.
 */
public final class Evaluator {
    /** A piece of an answer and who wrote it (the winning proposers of a fused step, or the rerank winner). */
    public record Segment(String text, List<String> proposers) {}

    /**
     * One method's answer to one item.
     *
     * @param text      the generated answer
     * @param extracted the number taken from it, or null
     * @param correct   whether it equals the gold answer
     * @param segments  the answer in pieces with their authors
     * @param seconds   generation time (for rerank methods: only the reranking, the candidates are shared)
     * @param candidates for rerank methods: every candidate with its score and per-scorer values; else empty
     */
    public record Output(String text, String extracted, boolean correct, List<Segment> segments, double seconds,
            List<Candidate> candidates) {
        public Output {
            segments = List.copyOf(segments);
            candidates = List.copyOf(candidates);
        }
    }

    /**
     * One rerank candidate.
     *
     * @param author      the source that wrote it, or {@code cool} for the fused answer
     * @param text        the answer
     * @param score       the rerank metric's score (lower wins)
     * @param metric      the rerank metric's name
     * @param modelScores each scorer's value of it under that metric (with the ending the reranker scored): its
     *                    perplexity for {@code avg-ppl}, its bits per byte for {@code bits-per-byte}; empty for a
     *                    metric without per-model values
     */
    public record Candidate(String author, String text, double score, String metric, Map<String, Double> modelScores) {
        public Candidate {
            requireNonNull(metric, "metric is null");
            modelScores = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(modelScores));
        }
    }

    /**
     * All methods' answers to one item.
     *
     * @param error why the item could not be run (its prompt does not fit a source's context), or null; such an item
     *              has an empty, wrong output for every method
     */
    public record ItemResult(GsmItem item, Map<String, Output> outputs, String error) {
        public ItemResult(GsmItem item, Map<String, Output> outputs) {
            this(item, outputs, null);
        }

        /** Whether the item could not be run. */
        public boolean failed() {
            return error != null;
        }
    }

    private final Map<String, SourceModel> sources = new LinkedHashMap<>();
    private final RerankMetric metric;
    private final RerankMetric rerankMetric;
    private final WholeAnswers.Ending ending;
    private final FusionOptions options;
    private final FewShot shots;
    private final Map<String, CoolFusion> fusions = new HashMap<>();

    /**
     * Cool-Fusion with {@code metric}; {@code rerank} and {@code cool+rerank} with the default whole-answer metric
     * ({@link #defaultRerankMetric()}), every candidate scored with what ends it ({@link WholeAnswers.Ending#of}).
     */
    public Evaluator(List<SourceModel> sources, RerankMetric metric, FusionOptions options, FewShot shots) {
        this(sources, metric, defaultRerankMetric(), WholeAnswers.Ending.of(options), options, shots);
    }

    /**
     * The paper's Eq. 3, average perplexity over the scorers, as the issue defines Rerank. With the first, weaker demo
     * models bits per byte ranked better on the development set; with the retrained ones (attempt 4 in
     * models/README.md) Eq. 3 is as good or better there, so the default is the paper's. {@code --rerank-metric}
     * chooses another.
     */
    public static RerankMetric defaultRerankMetric() {
        return new AveragePerplexity();
    }

    /**
     * @param metric       the fusion's metric (Cool-Fusion's segment choice)
     * @param rerankMetric the whole-answer metric of {@code rerank} and {@code cool+rerank}
     * @param ending       what each scorer scores after a whole answer
     */
    public Evaluator(List<SourceModel> sources, RerankMetric metric, RerankMetric rerankMetric, WholeAnswers.Ending ending,
            FusionOptions options, FewShot shots) {
        for (SourceModel s : sources) {
            this.sources.put(s.name(), s);
        }
        this.metric = requireNonNull(metric, "metric is null");
        this.rerankMetric = requireNonNull(rerankMetric, "rerankMetric is null");
        this.ending = requireNonNull(ending, "ending is null");
        this.options = requireNonNull(options, "options is null");
        this.shots = requireNonNull(shots, "shots is null");
    }

    public List<String> sourceNames() {
        return List.copyOf(sources.keySet());
    }

    public FewShot shots() {
        return shots;
    }

    /**
     * Runs every method on one item. An item whose prompt (or a whole answer to rerank) does not fit a source's
     * context is {@linkplain ItemResult#failed() failed} for every method, with the reason; nothing is truncated.
     */
    public ItemResult run(GsmItem item, List<EvalMethod> methods) {
        try {
            return runAll(item, methods);
        } catch (ContextLengthExceededException e) {
            Map<String, Output> failed = new LinkedHashMap<>();
            for (EvalMethod m : methods) {
                failed.put(m.name(), new Output("", null, false, List.of(), 0, List.of()));
            }
            return new ItemResult(item, failed, e.getMessage());
        }
    }

    private ItemResult runAll(GsmItem item, List<EvalMethod> methods) {
        String prompt = shots.prompt(item.question());
        Map<String, Output> memo = new HashMap<>();
        Map<String, CandidateEvidence> assessed = new HashMap<>();
        Map<String, Output> out = new LinkedHashMap<>();
        for (EvalMethod m : methods) {
            Output o = switch (m.kind()) {
                case SINGLE, COOL -> fused(prompt, m.sources(), Alignment.COMMON, item, memo);
                case COOL_ALIGN -> fused(prompt, m.sources(), Alignment.OWN, item, memo);
                case RERANK -> rerank(prompt, m.sources(), false, item, memo, assessed);
                case COOL_RERANK -> rerank(prompt, m.sources(), true, item, memo, assessed);
            };
            out.put(m.name(), o);
        }
        return new ItemResult(item, out);
    }

    private Output fused(String prompt, List<String> names, Alignment alignment, GsmItem item, Map<String, Output> memo) {
        String key = alignment + ":" + String.join("+", names);
        Output cached = memo.get(key);
        if (cached != null) {
            return cached;
        }
        CoolFusion fusion = fusions.computeIfAbsent(String.join("+", names), k -> {
            List<SourceModel> subset = new ArrayList<>();
            for (String n : names) {
                subset.add(sources.get(n));
            }
            return CoolFusion.builder().sources(subset).metric(metric).build();
        });
        long start = System.nanoTime();
        Generation g = fusion.generate(prompt, options.toBuilder().alignment(alignment).build());
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Segment> segments = new ArrayList<>();
        for (StepTrace step : g.steps()) {
            if (!step.emitted().isEmpty()) {
                segments.add(new Segment(step.emitted(), step.winningCandidate().proposers()));
            }
        }
        Output o = output(g.text(), item, segments, seconds, List.of());
        memo.put(key, o);
        return o;
    }

    /**
     * Rerank (or Cool+Rerank) over the answers of {@code names}. A whole answer's evidence depends only on the scorers
     * and its text, so answers already assessed for this item (rerank's, when cool+rerank follows; a fused answer equal
     * to a single one) are not scored again.
     */
    private Output rerank(String prompt, List<String> names, boolean withCool, GsmItem item, Map<String, Output> memo,
            Map<String, CandidateEvidence> assessed) {
        List<String> candidates = new ArrayList<>();
        List<String> authors = new ArrayList<>();
        for (String n : names) {
            candidates.add(fused(prompt, List.of(n), Alignment.COMMON, item, memo).text());
            authors.add(n);
        }
        if (withCool) {
            candidates.add(fused(prompt, names, Alignment.COMMON, item, memo).text());
            authors.add("cool");
        }
        List<SourceModel> scorers = new ArrayList<>();
        for (String n : names) {
            scorers.add(sources.get(n));
        }
        String scorerKey = String.join("+", names) + "\n";
        long start = System.nanoTime();
        List<String> fresh = candidates.stream().filter(c -> !assessed.containsKey(scorerKey + c)).distinct().toList();
        if (!fresh.isEmpty()) {
            List<CandidateEvidence> evidence = Rerank.assess(prompt, fresh, scorers, ending);
            for (int i = 0; i < fresh.size(); i++) {
                assessed.put(scorerKey + fresh.get(i), evidence.get(i));
            }
        }
        Rerank.Choice choice = Rerank.choose(candidates.stream().map(c -> assessed.get(scorerKey + c)).toList(),
                rerankMetric);
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Candidate> scored = new ArrayList<>();
        for (int c = 0; c < candidates.size(); c++) {
            scored.add(new Candidate(authors.get(c), candidates.get(c), choice.ranking().score(c), rerankMetric.name(),
                    choice.modelScores().get(c)));
        }
        String text = candidates.get(choice.index());
        return output(text, item, List.of(new Segment(text, List.of(authors.get(choice.index())))), seconds, scored);
    }

    /** The metric of rerank and cool+rerank. */
    public RerankMetric rerankMetric() {
        return rerankMetric;
    }

    /** What a scorer scores after a whole answer. */
    public WholeAnswers.Ending ending() {
        return ending;
    }

    private static Output output(String text, GsmItem item, List<Segment> segments, double seconds,
            List<Candidate> candidates) {
        String extracted = Answers.extract(text);
        return new Output(text, extracted, extracted != null && extracted.equals(item.gold()), segments, seconds,
                candidates);
    }
}
