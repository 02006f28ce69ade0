package dev.coolfusion.core;

import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.ForwardingTextCodec;
import dev.coolfusion.spi.TextCodec;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A fusion's view of a source's tokenizer that remembers its continuation encodings and decodings (issue 16).
 * T1 re-encodes the growing text of every proposal with every tokenizer after each token, and the sources' T1 tasks
 * and M3's candidate tokenization ask the same tokenizer for the same texts. The texts are short (a segment is a word
 * or two: " 5", " =", " The") and recur across generations as much as within one, so one memo serves all of a
 * {@link CoolFusion}'s generations, concurrent ones included (thread-safe). Tokenizers are pure functions of their
 * input, so the answers are the same; only the work is saved. A memo that reaches {@value #MAX_ENTRIES} entries
 * starts over rather than grow.
 */
final class CachedCodec extends ForwardingTextCodec {
    static final int MAX_ENTRIES = 16_384;

    private final Map<String, Encoded> encodings = new ConcurrentHashMap<>();
    private final Map<List<Integer>, String> decodings = new ConcurrentHashMap<>();

    CachedCodec(TextCodec codec) {
        super(codec);
    }

    @Override
    public Encoded encodeContinuation(String text) {
        Encoded known = encodings.get(text);
        if (known != null) {
            return known;
        }
        Encoded encoded = delegate().encodeContinuation(text);
        if (encodings.size() >= MAX_ENTRIES) {
            encodings.clear();
        }
        encodings.put(text, encoded);
        return encoded;
    }

    @Override
    public String decodeContinuation(List<Integer> ids) {
        String known = decodings.get(ids);
        if (known != null) {
            return known;
        }
        List<Integer> key = List.copyOf(ids);
        String decoded = delegate().decodeContinuation(key);
        if (decodings.size() >= MAX_ENTRIES) {
            decodings.clear();
        }
        decodings.put(key, decoded);
        return decoded;
    }
}
