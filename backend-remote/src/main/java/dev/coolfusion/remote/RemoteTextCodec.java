package dev.coolfusion.remote;

import dev.coolfusion.remote.proto.DecodeRequest;
import dev.coolfusion.remote.proto.EncodeRequest;
import dev.coolfusion.remote.proto.EncodeResponse;
import dev.coolfusion.remote.proto.IsSpecialRequest;
import dev.coolfusion.remote.proto.ModelInfo;
import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The served model's tokenizer (T2/T3), asked over the network. Facts that never change (end- and begin-of-sequence
 * ids, the chat template) come with the model's description; encodings and decodings are memoised, because the
 * fusion loop encodes the same growing text again after every generated token (the paper's "cheap tokenizer checks").
 */
final class RemoteTextCodec implements TextCodec {
    private static final int CACHE = 4096;

    private final ServedModel served;
    private final Set<Integer> endOfSequence;
    private final OptionalInt beginOfSequence;
    private final Optional<ChatTemplate> template;
    private final Optional<String> digest;
    private final Map<Integer, Boolean> special = new ConcurrentHashMap<>();
    private final Map<String, Encoded> encodings = lru();
    private final Map<String, Encoded> continuations = lru();
    private final Map<List<Integer>, String> decodings = lru();
    private final Map<List<Integer>, String> continuationDecodings = lru();

    RemoteTextCodec(ServedModel served, ModelInfo info) {
        this.served = served;
        this.endOfSequence = Set.copyOf(info.getEndOfSequenceList());
        this.beginOfSequence = info.hasBeginOfSequence() ? OptionalInt.of(info.getBeginOfSequence()) : OptionalInt.empty();
        this.template = info.hasChatTemplate()
                ? Optional.of(ChatTemplate.of(info.getChatTemplate().getSource(), info.getChatTemplate().getSpecialTokensMap()))
                : Optional.empty();
        this.digest = info.getCodecDigest().isEmpty() ? Optional.empty() : Optional.of(info.getCodecDigest());
    }

    /** The served tokenizer's digest, as the worker tells it. */
    @Override
    public Optional<String> digest() {
        return digest;
    }

    /** The worker that serves this tokenizer. */
    ServedModel served() {
        return served;
    }

    private static <K, V> Map<K, V> lru() {
        return java.util.Collections.synchronizedMap(new LinkedHashMap<>(64, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
                return size() > CACHE;
            }
        });
    }

    @Override
    public Encoded encode(String text) {
        return encode(text, false, encodings);
    }

    @Override
    public Encoded encodeContinuation(String text) {
        return encode(text, true, continuations);
    }

    private Encoded encode(String text, boolean continuation, Map<String, Encoded> cache) {
        Encoded hit = cache.get(text);
        if (hit != null) {
            return hit;
        }
        EncodeResponse e = served.call("Encode", stub -> stub.encode(EncodeRequest.newBuilder().setModel(served.name())
                .setText(text).setContinuation(continuation).build()));
        List<Span> words = new ArrayList<>();
        for (dev.coolfusion.remote.proto.Span w : e.getWordsList()) {
            words.add(new Span(w.getStart(), w.getEnd()));
        }
        Encoded out = new Encoded(e.getText(), List.copyOf(e.getIdsList()), List.copyOf(e.getTokensList()), words);
        cache.put(text, out);
        return out;
    }

    @Override
    public String decode(List<Integer> ids) {
        return decode(ids, false, decodings);
    }

    @Override
    public String decodeContinuation(List<Integer> ids) {
        return decode(ids, true, continuationDecodings);
    }

    private String decode(List<Integer> ids, boolean continuation, Map<List<Integer>, String> cache) {
        List<Integer> key = List.copyOf(ids);
        String hit = cache.get(key);
        if (hit == null) {
            hit = served.call("Decode", stub -> stub.decode(DecodeRequest.newBuilder().setModel(served.name())
                    .addAllIds(key).setContinuation(continuation).build())).getText();
            cache.put(key, hit);
        }
        return hit;
    }

    @Override
    public Set<Integer> endOfSequenceIds() {
        return endOfSequence;
    }

    @Override
    public OptionalInt beginOfSequenceId() {
        return beginOfSequence;
    }

    @Override
    public boolean isSpecial(int id) {
        Boolean known = special.get(id);
        if (known == null) {
            known = served.call("IsSpecial", stub -> stub.isSpecial(IsSpecialRequest.newBuilder().setModel(served.name())
                    .addIds(id).build())).getSpecial(0);
            special.put(id, known);
        }
        return known;
    }

    @Override
    public Optional<ChatTemplate> chatTemplate() {
        return template;
    }
}
