package dev.coolfusion.hf;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The shared real tokenizers, loaded once per test JVM (the llama3 and qwen3 files take a moment to parse). */
final class RealTokenizers {
    private static final Map<String, HfTextCodec> CACHE = new ConcurrentHashMap<>();

    private RealTokenizers() {}

    static HfTextCodec get(String family) {
        return CACHE.computeIfAbsent(family, f -> HfTextCodec.load(SharedFixtures.tokenizer(f)));
    }
}
