package dev.coolfusion.remote;

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
    private final Map<Integer, Boolean> special = new ConcurrentHashMap<>();
    private final Map<String, Encoded> encodings = lru();
    private final Map<String, Encoded> continuations = lru();
    private final Map<List<Integer>, String> decodings = lru();
    private final Map<List<Integer>, String> continuationDecodings = lru();

    RemoteTextCodec(ServedModel served, Wire.ModelInfo info) {
        this.served = served;
        this.endOfSequence = Set.copyOf(info.endOfSequence() == null ? List.of() : info.endOfSequence());
        this.beginOfSequence = info.beginOfSequence() == null ? OptionalInt.empty() : OptionalInt.of(info.beginOfSequence());
        this.template = Optional.ofNullable(info.chatTemplate())
                .map(t -> ChatTemplate.of(t.source(), t.specialTokens() == null ? Map.of() : t.specialTokens()));
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
        Wire.Encoding e = served.call("encode", new Wire.Encode(text, continuation), Wire.Encoding.class);
        List<Span> words = new ArrayList<>();
        for (int[] w : e.words()) {
            words.add(new Span(w[0], w[1]));
        }
        Encoded out = new Encoded(e.text(), e.ids(), e.tokens(), words);
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
            hit = served.call("decode", new Wire.Decode(key, continuation), Wire.Text.class).text();
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
            known = served.call("is-special", new Wire.SpecialQuery(List.of(id)), Wire.Special.class).special().get(0);
            special.put(id, known);
        }
        return known;
    }

    @Override
    public Optional<ChatTemplate> chatTemplate() {
        return template;
    }
}
