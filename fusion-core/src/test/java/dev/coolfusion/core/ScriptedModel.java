package dev.coolfusion.core;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real (if tiny) probabilistic model for tests: after a prompt it prefers to write {@code script} one char at a
 * time, then end the sequence. At output position i it gives the script's char i probability {@code confidence} and
 * spreads the rest evenly over the other {@code VOCAB - 1} tokens. It keeps books on every handle so tests can
 * check the Table-1 lifecycle. With a {@link #maxContext} it refuses, as a real backend does, any state longer than
 * that; failures can be injected per call.
 */
final class ScriptedModel implements SourceModel {
    static final int VOCAB = 1000;

    private final String name;
    private final TextCodec codec;
    private final String script;
    private final double confidence;
    private final Map<String, List<Integer>> states = new ConcurrentHashMap<>();
    private final Set<String> committed = ConcurrentHashMap.newKeySet();
    private final AtomicInteger ids = new AtomicInteger();
    final AtomicInteger nextTokenCalls = new AtomicInteger();
    final AtomicInteger scoreCalls = new AtomicInteger();
    final Set<String> threads = ConcurrentHashMap.newKeySet();
    volatile RuntimeException failOnScore;
    volatile RuntimeException failOnNextToken;
    volatile RuntimeException failOnRelease;
    volatile RuntimeException failOnOpen;
    volatile RuntimeException failOnCommit;
    /** {@link #failOnNextToken} is thrown from the call after this many nextToken calls (0: from the first). */
    volatile int failNextTokenAfter;
    /** When set, nextToken waits for it first (a source that hangs, e.g. on a dead worker until its time-out). */
    volatile java.util.concurrent.CountDownLatch holdNextToken;
    /** Whether this model scores; a proposer-only model ({@code false}) refuses score and supports append. */
    volatile boolean scores = true;
    final AtomicInteger appendCalls = new AtomicInteger();
    /** The most tokens a state may hold; unlimited by default. */
    volatile int maxContext = Integer.MAX_VALUE;
    private int promptLength;

    ScriptedModel(String name, CharCodec.Words words, String script, double confidence) {
        this(name, new CharCodec(words), script, confidence);
    }

    ScriptedModel(String name, TextCodec codec, String script, double confidence) {
        this.name = name;
        this.codec = codec;
        this.script = script;
        this.confidence = confidence;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public TextCodec codec() {
        return codec;
    }

    /** The preferred token after {@code tokens}: the script's next char, or end-of-sequence. */
    int preferred(List<Integer> tokens) {
        int position = tokens.size() - promptLength;
        return position < script.length() ? script.charAt(position) + 3 : CharCodec.EOS;
    }

    double logProb(List<Integer> tokens, int token) {
        return Math.log(token == preferred(tokens) ? confidence : (1 - confidence) / (VOCAB - 1));
    }

    private StateHandle put(List<Integer> tokens) {
        String id = name + "-" + ids.incrementAndGet();
        states.put(id, List.copyOf(tokens));
        return new StateHandle(id);
    }

    private List<Integer> get(StateHandle state) {
        List<Integer> tokens = states.get(state.id());
        if (tokens == null) {
            throw new IllegalStateException(name + ": unknown or released state " + state);
        }
        return tokens;
    }

    @Override
    public OptionalInt maxContextTokens() {
        return maxContext == Integer.MAX_VALUE ? OptionalInt.empty() : OptionalInt.of(maxContext);
    }

    private void checkContext(int tokens) {
        if (tokens > maxContext) {
            throw new FusionException(name + ": " + tokens + " tokens exceed the max context of " + maxContext);
        }
    }

    @Override
    public StateHandle open(List<Integer> promptTokens) {
        threads.add(Thread.currentThread().getName());
        checkContext(promptTokens.size());
        if (failOnOpen != null) {
            throw failOnOpen;
        }
        promptLength = promptTokens.size();
        StateHandle h = put(promptTokens);
        committed.add(h.id());
        return h;
    }

    @Override
    public TokenStep nextToken(StateHandle state, Decoding decoding) {
        threads.add(Thread.currentThread().getName());
        int call = nextTokenCalls.incrementAndGet();
        java.util.concurrent.CountDownLatch hold = holdNextToken;
        if (hold != null) {
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        if (failOnNextToken != null && call > failNextTokenAfter) {
            throw failOnNextToken;
        }
        List<Integer> tokens = get(state);
        checkContext(tokens.size() + 1);
        int token = preferred(tokens);
        if (!decoding.greedy()) {
            // Inverse CDF over a two-way split: the preferred token, or (standing in for all others) a space.
            double pPreferred = Math.pow(confidence, 1 / decoding.temperature());
            double pOther = (VOCAB - 1) * Math.pow((1 - confidence) / (VOCAB - 1), 1 / decoding.temperature());
            if (decoding.uniform() >= pPreferred / (pPreferred + pOther) && token != ' ' + 3) {
                token = ' ' + 3;
            }
        }
        double lp = logProb(tokens, token);
        List<Integer> next = new ArrayList<>(tokens);
        next.add(token);
        return new TokenStep(token, lp, put(next));
    }

    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        threads.add(Thread.currentThread().getName());
        scoreCalls.incrementAndGet();
        if (!scores) {
            throw new UnsupportedOperationException(name + " cannot score (proposer-only)");
        }
        if (failOnScore != null) {
            throw failOnScore;
        }
        List<Integer> base = get(state);
        List<ScoredTokens> out = new ArrayList<>();
        for (List<Integer> candidate : candidates) {
            checkContext(base.size() + candidate.size());
        }
        for (List<Integer> candidate : candidates) {
            List<Integer> tokens = new ArrayList<>(base);
            List<Double> lps = new ArrayList<>();
            for (int token : candidate) {
                lps.add(logProb(tokens, token));
                tokens.add(token);
            }
            out.add(new ScoredTokens(lps, put(tokens)));
        }
        return out;
    }

    @Override
    public boolean canScore() {
        return scores;
    }

    @Override
    public StateHandle append(StateHandle state, List<Integer> tokens) {
        appendCalls.incrementAndGet();
        List<Integer> next = new ArrayList<>(get(state));
        next.addAll(tokens);
        checkContext(next.size());
        return put(next);
    }

    @Override
    public void commit(StateHandle temporary) {
        if (failOnCommit != null) {
            throw failOnCommit;
        }
        get(temporary);
        committed.add(temporary.id());
    }

    @Override
    public void release(Collection<StateHandle> handles) {
        if (failOnRelease != null) {
            throw failOnRelease;
        }
        for (StateHandle h : new HashSet<>(handles)) {
            states.remove(h.id());
            committed.remove(h.id());
        }
    }

    int liveStates() {
        return states.size();
    }
}
