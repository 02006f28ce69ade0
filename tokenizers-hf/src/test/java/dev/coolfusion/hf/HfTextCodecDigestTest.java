package dev.coolfusion.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A digest names what decides a codec's behaviour: its files and its special ids, not where it was loaded from. */
class HfTextCodecDigestTest {
    @TempDir
    Path tmp;

    @Test
    void aCopyOfTheFilesElsewhereHasTheSameDigest() throws IOException {
        Path original = SharedFixtures.tokenizer("llama3");
        Path copy = Files.createDirectories(tmp.resolve("elsewhere"));
        try (var files = Files.list(original)) {
            for (Path file : files.toList()) {
                Files.copy(file, copy.resolve(file.getFileName()));
            }
        }
        try (HfTextCodec a = HfTextCodec.load(original); HfTextCodec b = HfTextCodec.load(copy)) {
            String digest = a.digest().orElseThrow();
            assertTrue(digest.matches("[0-9a-f]{64}"), digest);
            assertEquals(digest, b.digest().orElseThrow());
            assertEquals(copy.toAbsolutePath(), b.directory());
        }
    }

    @Test
    void differentTokenizersOrSpecialIdsHaveDifferentDigests() throws IOException {
        try (HfTextCodec llama3 = HfTextCodec.load(SharedFixtures.tokenizer("llama3"));
                HfTextCodec qwen3 = HfTextCodec.load(SharedFixtures.tokenizer("qwen3"));
                HfTextCodec otherEos = llama3.withEndOfSequenceIds(Set.of(7))) {
            assertNotEquals(llama3.digest(), qwen3.digest());
            assertNotEquals(llama3.digest(), otherEos.digest());
        }
        // An edited tokenizer_config.json is another codec.
        Path edited = Files.createDirectories(tmp.resolve("edited"));
        Path original = SharedFixtures.tokenizer("llama2");
        Files.copy(original.resolve("tokenizer.json"), edited.resolve("tokenizer.json"));
        String config = Files.readString(original.resolve("tokenizer_config.json"));
        Files.writeString(edited.resolve("tokenizer_config.json"), config.replaceFirst("\\{", "{\"model_max_length\": 7,"));
        try (HfTextCodec a = HfTextCodec.load(original); HfTextCodec b = HfTextCodec.load(edited)) {
            assertNotEquals(a.digest(), b.digest());
        }
    }
}
