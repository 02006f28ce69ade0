package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Recently opened prompts of one model, for {@code open} to reuse: each entry is a prompt's token ids, a {@link
 * KvCache.Sequence} of its keys and values that the entry owns (it keeps the store alive, as a state would, but is
 * no state handle), and the next-token log-probabilities after it. Least recently used entries go first when the
 * entries' keys and values exceed the memory cap.
 *
 * <p>Not thread-safe: the owning model calls it under its lock.
 */
final class PrefixCache {
    /** A prefix shorter than this is not reused (the forward beside the store and the later copy cost more). */
    static final int MIN_REUSE = 8;

    private final KvCache cache;
    private final long capBytes;
    private final long bytesPerToken;
    private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;
    private long hits;
    private long misses;
    private long reusedTokens;

    /** One cached prompt. */
    record Entry(long[] tokens, KvCache.Sequence kv, float[] logProbs) {}

    /** The cached entry sharing the most leading tokens with a prompt, and how many it shares. */
    record Match(Entry entry, int shared) {}

    /** Token ids compared by value. */
    private record Key(long[] tokens) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(tokens, k.tokens);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(tokens);
        }
    }

    /** At most {@code capBytes} of keys and values of {@code bytesPerToken} each; 0 keeps nothing. */
    PrefixCache(KvCache cache, long capBytes, long bytesPerToken) {
        this.cache = requireNonNull(cache, "cache is null");
        this.capBytes = capBytes;
        this.bytesPerToken = bytesPerToken;
    }

    boolean enabled() {
        return capBytes > 0;
    }

    /**
     * The entry computed with the same longrope factors ({@code longFactors}) that shares the most leading tokens
     * with {@code prompt}, the same prompt first among equals; null if none shares any.
     */
    Match longest(long[] prompt, boolean longFactors) {
        Entry best = null;
        int bestShared = 0;
        for (Entry e : entries.values()) {
            if (e.kv().longFactors() != longFactors) {
                continue; // longrope: keys computed with the other factors are not this prompt's
            }
            int n = Math.min(e.tokens().length, prompt.length);
            int shared = 0;
            while (shared < n && e.tokens()[shared] == prompt[shared]) {
                shared++;
            }
            boolean same = shared == prompt.length && e.tokens().length == prompt.length; // wins a tie
            if (shared > bestShared || (same && shared == bestShared)) {
                best = e;
                bestShared = shared;
            }
        }
        return best == null ? null : new Match(best, bestShared);
    }

    /** Counts an {@code open} that found nothing to reuse. */
    void miss() {
        misses++;
    }

    /**
     * Counts an {@code open} that reused the first {@code tokens} keys and values of {@code match}'s prompt, which
     * becomes the most recently used.
     */
    void hit(Match match, int tokens) {
        entries.get(new Key(match.entry().tokens()));
        hits++;
        reusedTokens += tokens;
    }

    /**
     * Keeps {@code tokens} with a copy of {@code kv} (materialized) and {@code logProbs}, unless already kept or larger
     * than the cap; evicts the least recently used entries beyond the cap.
     */
    void put(long[] tokens, KvCache.Sequence kv, float[] logProbs) {
        long size = tokens.length * bytesPerToken;
        Key key = new Key(tokens);
        if (!enabled() || size > capBytes || entries.containsKey(key)) {
            return;
        }
        cache.materialize(kv);
        entries.put(key, new Entry(tokens.clone(), cache.copy(kv), logProbs));
        bytes += size;
        Iterator<Map.Entry<Key, Entry>> eldest = entries.entrySet().iterator();
        while (bytes > capBytes && eldest.hasNext()) {
            Entry e = eldest.next().getValue();
            eldest.remove();
            bytes -= e.tokens().length * bytesPerToken;
            cache.release(e.kv());
        }
    }

    /** Lets go of every entry. */
    void clear() {
        for (Entry e : entries.values()) {
            cache.release(e.kv());
        }
        entries.clear();
        bytes = 0;
    }

    DjlSourceModel.PrefixCacheStats stats() {
        long tokens = 0;
        for (Entry e : entries.values()) {
            tokens += e.tokens().length;
        }
        return new DjlSourceModel.PrefixCacheStats(entries.size(), tokens, bytes, capBytes, hits, misses, reusedTokens);
    }
}
