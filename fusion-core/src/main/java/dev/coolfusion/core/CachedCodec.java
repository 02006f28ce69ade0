package dev.coolfusion.core;

import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.ForwardingTextCodec;
import dev.coolfusion.spi.TextCodec;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One generation's view of a source's tokenizer that remembers its continuation encodings and decodings (issue 16).
 * T1 re-encodes the growing text of every proposal with every tokenizer after each token, and the sources' T1 tasks
 * and M3's candidate tokenization ask the same tokenizer for the same texts: most of those calls repeat one made
 * earlier in the generation. Tokenizers are pure functions of their input, so the answers are the same; only the
 * work is saved. Shared by the generation's tasks (thread-safe), dropped with it; a generation that makes more than
 * {@value #MAX_ENTRIES} distinct calls starts over rather than grow.
 */
final class CachedCodec extends ForwardingTextCodec {
    static final int MAX_ENTRIES = 8192;

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
