package dev.coolfusion.remote;

import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.remote.proto.TokenizerFiles;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.TextCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The tokenizers a worker knows by digest, for {@code NextText}: its own models' (always), the ones clients registered
 * (at most {@code capacity}, least recently used dropped first; their files kept under a cache directory, so a
 * restarted worker with the same directory still has them), and model folders that a request names and this machine
 * has (used when their digest matches).
 */
final class TokenizerRegistry implements AutoCloseable {
    private final Map<String, TextCodec> own = new LinkedHashMap<>();
    private final int capacity;
    private final Path cache;
    private final boolean ownCache;
    private final LinkedHashMap<String, HfTextCodec> loaded = new LinkedHashMap<>(16, 0.75f, true);

    /** @param cache where registered tokenizers' files go; empty for a temporary directory removed on close */
    TokenizerRegistry(Iterable<TextCodec> ownCodecs, Optional<Path> cache, int capacity) {
        for (TextCodec codec : ownCodecs) {
            codec.digest().ifPresent(d -> own.putIfAbsent(d, codec));
        }
        this.capacity = capacity;
        try {
            if (cache.isPresent()) {
                this.cache = Files.createDirectories(cache.get());
                this.ownCache = false;
            } else {
                this.cache = Files.createTempDirectory("cool-fusion-worker-tokenizers-");
                this.ownCache = true;
            }
        } catch (IOException e) {
            throw new FusionException("cannot create the tokenizer cache directory " + cache.orElse(null) + ": "
                    + e.getMessage(), e);
        }
    }

    /** The codec with {@code digest}, else the one at {@code folder} if this machine has it with that digest, else empty. */
    synchronized Optional<TextCodec> resolve(String digest, String folder) {
        TextCodec mine = own.get(digest);
        if (mine != null) {
            return Optional.of(mine);
        }
        HfTextCodec known = loaded.get(digest);
        if (known != null) {
            return Optional.of(known);
        }
        if (!digest.matches("[0-9a-f]{64}")) {
            return Optional.empty();
        }
        Path cached = cache.resolve(digest);
        if (Files.isRegularFile(cached.resolve("tokenizer.json"))) {
            Optional<TextCodec> codec = tryLoad(cached, digest);
            if (codec.isPresent()) {
                return codec;
            }
        }
        if (!folder.isEmpty()) {
            Path dir;
            try {
                dir = Path.of(folder);
            } catch (RuntimeException notAPath) {
                return Optional.empty();
            }
            if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
                return tryLoad(dir, digest);
            }
        }
        return Optional.empty();
    }

    private Optional<TextCodec> tryLoad(Path dir, String digest) {
        HfTextCodec codec;
        try {
            codec = HfTextCodec.load(dir);
        } catch (RuntimeException unreadable) {
            return Optional.empty();
        }
        if (!codec.digest().orElse("").equals(digest)) {
            codec.close(); // another tokenizer, or the same files with other special ids: the client must send it
            return Optional.empty();
        }
        keep(digest, codec);
        return Optional.of(codec);
    }

    /** Registers a tokenizer from its files; returns its (verified) digest. */
    synchronized String register(TokenizerFiles files) {
        String digest = files.getDigest();
        if (own.containsKey(digest) || loaded.containsKey(digest)) {
            return digest;
        }
        if (!digest.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("tokenizer digest must be 64 lower-case hex digits (SHA-256), got '"
                    + TokenizerTransfer.abbreviate(digest) + "'");
        }
        HfTextCodec codec = TokenizerTransfer.load(files, cache.resolve(digest));
        keep(digest, codec);
        return digest;
    }

    /** How many registered or folder-loaded tokenizers are held (not counting the models' own). */
    synchronized int size() {
        return loaded.size();
    }

    private void keep(String digest, HfTextCodec codec) {
        loaded.put(digest, codec);
        while (loaded.size() > capacity) {
            Map.Entry<String, HfTextCodec> eldest = loaded.entrySet().iterator().next();
            loaded.remove(eldest.getKey());
            // Not closed: a NextText running now may still use it. Its native tokenizer stays allocated (evictions
            // are rare: capacity is per worker, a fusion has a handful of tokenizers).
        }
    }

    @Override
    public synchronized void close() {
        loaded.values().forEach(HfTextCodec::close);
        loaded.clear();
        if (ownCache) {
            try {
                TokenizerTransfer.deleteTree(cache);
            } catch (IOException e) {
                // a temporary directory; the operating system cleans it up eventually
            }
        }
    }
}
