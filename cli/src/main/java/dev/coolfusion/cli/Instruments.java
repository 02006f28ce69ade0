package dev.coolfusion.cli;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.ForwardingSourceModel;
import dev.coolfusion.spi.ForwardingTextCodec;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import dev.coolfusion.spi.TokenStep;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * bench-fusion's instruments: decorators around a {@link SourceModel} and its {@link TextCodec} that count the model
 * calls (forward passes: open, nextToken, score, append) and the tokenizer calls that reach the tokenizer, and time
 * both. They change nothing else: every call is passed through as is.
 */
final class Instruments {
    final LongAdder modelCalls = new LongAdder();
    final LongAdder modelNanos = new LongAdder();
    final LongAdder tokenizerCalls = new LongAdder();
    final LongAdder tokenizerNanos = new LongAdder();

    /** A snapshot of the counters. */
    record Counts(long modelCalls, long modelNanos, long tokenizerCalls, long tokenizerNanos) {
        Counts minus(Counts before) {
            return new Counts(modelCalls - before.modelCalls, modelNanos - before.modelNanos,
                    tokenizerCalls - before.tokenizerCalls, tokenizerNanos - before.tokenizerNanos);
        }

        /** The tokenizer's part of the time in source calls (model and tokenizer), each summed over threads. */
        double tokenizerShareOfCalls() {
            return (double) tokenizerNanos / Math.max(1, tokenizerNanos + modelNanos);
        }
    }

    Counts counts() {
        return new Counts(modelCalls.sum(), modelNanos.sum(), tokenizerCalls.sum(), tokenizerNanos.sum());
    }

    /** {@code model}, counted; its codec is counted and timed too. */
    SourceModel instrument(SourceModel model) {
        return new CountedModel(requireNonNull(model, "model is null"), new TimedCodec(model.codec()));
    }

    private <T> T model(Supplier<T> call) {
        long t0 = System.nanoTime();
        try {
            return call.get();
        } finally {
            modelNanos.add(System.nanoTime() - t0);
            modelCalls.increment();
        }
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

    /** The tokenizer calls that reach the tokenizer, timed; the rest forwarded as is. */
    private final class TimedCodec extends ForwardingTextCodec {
        TimedCodec(TextCodec codec) {
            super(codec);
        }

        @Override
        public Encoded encode(String text) {
            return tokenizer(() -> delegate().encode(text));
        }

        @Override
        public Encoded encodeContinuation(String text) {
            return tokenizer(() -> delegate().encodeContinuation(text));
        }

        @Override
        public String decode(List<Integer> ids) {
            return tokenizer(() -> delegate().decode(ids));
        }

        @Override
        public String decodeContinuation(List<Integer> ids) {
            return tokenizer(() -> delegate().decodeContinuation(ids));
        }

        @Override
        public List<Integer> encodePrompt(String text) {
            return tokenizer(() -> delegate().encodePrompt(text));
        }
    }

    /** The model calls that run a forward pass, counted and timed; the rest forwarded as is. */
    private final class CountedModel extends ForwardingSourceModel {
        private final TextCodec codec;

        CountedModel(SourceModel model, TextCodec codec) {
            super(model);
            this.codec = codec;
        }

        @Override
        public TextCodec codec() {
            return codec;
        }

        @Override
        public StateHandle open(List<Integer> promptTokens) {
            return model(() -> delegate().open(promptTokens));
        }

        @Override
        public TokenStep nextToken(StateHandle state, Decoding decoding) {
            return model(() -> delegate().nextToken(state, decoding));
        }

        @Override
        public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
            return model(() -> delegate().score(state, candidates));
        }

        @Override
        public StateHandle append(StateHandle state, List<Integer> tokens) {
            return model(() -> delegate().append(state, tokens));
        }
    }
}
