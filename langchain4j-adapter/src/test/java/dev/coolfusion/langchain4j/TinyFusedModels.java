package dev.coolfusion.langchain4j;

import dev.coolfusion.core.config.ConfiguredFusion;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.testkit.TinyCheckpoints;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Two real DJL source models for the adapter tests, loaded once per test JVM: random-weight tiny checkpoints
 * (seeded) with the real Llama 3 and Qwen 3 tokenizers and their tokenizer_config.json, chat templates included,
 * from the shared fixtures. Their end-of-sequence ids are the chat models' ones (Llama 3: {@code <|eot_id|>},
 * {@code <|end_of_text|>}; Qwen 3: {@code <|im_end|>}, {@code <|endoftext|>}). The text they write is junk.
 */
final class TinyFusedModels {
    private static Path dir;
    private static DjlSourceModel llama3;
    private static DjlSourceModel qwen3;

    private TinyFusedModels() {}

    static Path sharedFixtures() {
        String shared = System.getProperty("coolfusion.shared.dir", "../../shared");
        Path fixtures = Path.of(shared, "fixtures");
        assumeTrue(Files.isDirectory(fixtures.resolve("tokenizers")), "skipped: shared fixtures not found at "
                + fixtures.toAbsolutePath() + " (set -Dcoolfusion.shared.dir)");
        return fixtures;
    }

    static synchronized Path directory() {
        if (dir == null) {
            Path fixtures = sharedFixtures();
            try {
                Path tmp = Files.createTempDirectory("cool-fusion-lc4j");
                write(tmp.resolve("llama3"), fixtures.resolve("tokenizers/llama3"), TinyCheckpoints.Arch.LLAMA, 128256, 21,
                        "[128009, 128001]");
                write(tmp.resolve("qwen3"), fixtures.resolve("tokenizers/qwen3"), TinyCheckpoints.Arch.QWEN2, 151936, 22,
                        "[151645, 151643]");
                dir = tmp;
                Runtime.getRuntime().addShutdownHook(new Thread(TinyFusedModels::closeAll));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return dir;
    }

    private static void write(Path folder, Path tokenizer, TinyCheckpoints.Arch arch, int vocab, long seed, String eos)
            throws IOException {
        TinyCheckpoints.write(folder, new TinyCheckpoints.Spec(arch, 32, 64, 2, 4, 2, vocab, 1024, true, false, false,
                false, TinyCheckpoints.WeightType.F32, seed, Map.of(), Set.of()));
        Files.copy(tokenizer.resolve("tokenizer.json"), folder.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(tokenizer.resolve("tokenizer_config.json"), folder.resolve("tokenizer_config.json"),
                StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(folder.resolve("generation_config.json"), "{\"eos_token_id\": " + eos + "}");
    }

    static synchronized DjlSourceModel llama3() {
        if (llama3 == null) {
            llama3 = DjlSourceModel.load(directory().resolve("llama3"), DjlModelOptions.builder().name("llama3").build());
        }
        return llama3;
    }

    static synchronized DjlSourceModel qwen3() {
        if (qwen3 == null) {
            qwen3 = DjlSourceModel.load(directory().resolve("qwen3"), DjlModelOptions.builder().name("qwen3").build());
        }
        return qwen3;
    }

    /**
     * The two models fused with segments of at most 4 tokens: these random models rarely reach a common word boundary,
     * and the short fallback gives every answer several segments.
     */
    static ConfiguredFusion fused() {
        return ConfiguredFusion.of(dev.coolfusion.core.CoolFusion.builder().sources(both()).build(),
                dev.coolfusion.core.FusionOptions.builder().maxSegmentTokens(4).build());
    }

    static List<DjlSourceModel> both() {
        return List.of(llama3(), qwen3());
    }

    /** A fusion YAML config over the two model folders, as {@code cool-fusion eval} reads it. */
    static Path yaml(String options) throws IOException {
        Path file = directory().resolve("fusion.yaml");
        Files.writeString(file, "sources:\n"
                + "  - provider: djl\n    options: {path: llama3, name: llama3}\n"
                + "  - provider: djl\n    options: {path: qwen3, name: qwen3}\n"
                + "metric: avg-ppl\n"
                + "options:\n" + options);
        return file;
    }

    private static synchronized void closeAll() {
        if (llama3 != null) {
            llama3.close();
        }
        if (qwen3 != null) {
            qwen3.close();
        }
        if (dir != null) {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                // a temp folder left behind is harmless
            }
        }
    }
}
