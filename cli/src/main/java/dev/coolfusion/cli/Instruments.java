package dev.coolfusion.cli;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.ProposedSegment;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SegmentRequest;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * bench-fusion's instruments: decorators around a {@link SourceModel} and its {@link TextCodec} that count the model
 * calls (forward passes: open, nextToken, score, append) and the tokenizer calls that reach the tokenizer, and time
 * the latter. They change nothing else: every call is passed through as is.
 */
final class Instruments {
    final LongAdder modelCalls = new LongAdder();
    final LongAdder tokenizerCalls = new LongAdder();
    final LongAdder tokenizerNanos = new LongAdder();

    /** A snapshot of the counters. */
    record Counts(long modelCalls, long tokenizerCalls, long tokenizerNanos) {
        Counts minus(Counts before) {
            return new Counts(modelCalls - before.modelCalls, tokenizerCalls - before.tokenizerCalls,
                    tokenizerNanos - before.tokenizerNanos);
        }
    }

    Counts counts() {
        return new Counts(modelCalls.sum(), tokenizerCalls.sum(), tokenizerNanos.sum());
    }

    /** {@code model}, counted; its codec is counted and timed too. */
    SourceModel instrument(SourceModel model) {
        return new CountedModel(requireNonNull(model, "model is null"), new TimedCodec(model.codec()));
    }

    private <T> T tokenizer(Supplier<T> call) {
        long t0 = System.nanoTime();
        try {
            return call.get();
        } finally {
            tokenizerNanos.add(System.nanoTime() - t0);
            tokenizerCalls.increment();
        }
    }

    private final class TimedCodec implements TextCodec {
        private final TextCodec codec;

        TimedCodec(TextCodec codec) {
            this.codec = codec;
        }

        @Override
        public Encoded encode(String text) {
            return tokenizer(() -> codec.encode(text));
        }

        @Override
        public Encoded encodeContinuation(String text) {
            return tokenizer(() -> codec.encodeContinuation(text));
        }

        @Override
        public String decode(List<Integer> ids) {
            return tokenizer(() -> codec.decode(ids));
        }

        @Override
        public String decodeContinuation(List<Integer> ids) {
            return tokenizer(() -> codec.decodeContinuation(ids));
        }

        @Override
        public List<Integer> encodePrompt(String text) {
            return tokenizer(() -> codec.encodePrompt(text));
        }

        @Override
        public Set<Integer> endOfSequenceIds() {
            return codec.endOfSequenceIds();
        }

        @Override
        public OptionalInt beginOfSequenceId() {
            return codec.beginOfSequenceId();
        }

        @Override
        public boolean isSpecial(int id) {
            return codec.isSpecial(id);
        }

        @Override
        public OptionalInt primaryEndOfSequenceId() {
            return codec.primaryEndOfSequenceId();
        }

        @Override
        public Optional<ChatTemplate> chatTemplate() {
            return codec.chatTemplate();
        }

        @Override
        public Optional<String> digest() {
            return codec.digest();
        }

        @Override
        public TextCodec unwrap() {
            return codec.unwrap();
        }
    }

    private final class CountedModel implements SourceModel {
        private final SourceModel model;
        private final TextCodec codec;

        CountedModel(SourceModel model, TextCodec codec) {
            this.model = model;
            this.codec = codec;
        }

        @Override
        public String name() {
            return model.name();
        }

        @Override
        public TextCodec codec() {
            return codec;
        }

        @Override
        public StateHandle open(List<Integer> promptTokens) {
            modelCalls.increment();
            return model.open(promptTokens);
        }

        @Override
        public TokenStep nextToken(StateHandle state, Decoding decoding) {
            modelCalls.increment();
            return model.nextToken(state, decoding);
        }

        @Override
        public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
            modelCalls.increment();
            return model.score(state, candidates);
        }

        @Override
        public Optional<ProposedSegment> nextText(SegmentRequest request) {
            return model.nextText(request);
        }

        @Override
        public boolean canScore() {
            return model.canScore();
        }

        @Override
        public StateHandle append(StateHandle state, List<Integer> tokens) {
            modelCalls.increment();
            return model.append(state, tokens);
        }

        @Override
        public void commit(StateHandle temporary) {
            model.commit(temporary);
        }

        @Override
        public void release(Collection<StateHandle> states) {
            model.release(states);
        }

        @Override
        public void commitAndRelease(StateHandle temporary, Collection<StateHandle> states) {
            model.commitAndRelease(temporary, states);
        }

        @Override
        public Optional<double[]> nllAtTemperatures(StateHandle state, List<Integer> tokens, double[] temperatures) {
            return model.nllAtTemperatures(state, tokens, temperatures);
        }

        @Override
        public OptionalInt maxContextTokens() {
            return model.maxContextTokens();
        }
    }
}
