package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.remote.proto.TokenizerFile;
import dev.coolfusion.remote.proto.TokenizerFiles;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.TextCodec;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * A Hugging Face tokenizer as {@link TokenizerFiles}: the files {@link HfTextCodec} and {@code HfModelFiles} read from a
 * model folder, gzip-compressed, and the end-of-sequence ids in use (they enter {@link TextCodec#digest()} and may come
 * from the model rather than the files). A worker rebuilds the codec from them and checks its digest.
 */
final class TokenizerTransfer {
    /** The files that decide a tokenizer's encodings, special ids and chat template. */
    static final List<String> FILES = List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json",
            "chat_template.jinja");
    /** The most bytes one file may have once decompressed (Llama 3's tokenizer.json is 9 MB). */
    static final int MAX_FILE_BYTES = 64 << 20;

    private TokenizerTransfer() {}

    /** The files of {@code codec}, if it is a Hugging Face tokenizer loaded from a folder; else empty. */
    static Optional<TokenizerFiles> of(TextCodec codec) {
        requireNonNull(codec, "codec is null");
        if (!(codec instanceof HfTextCodec hf) || hf.digest().isEmpty()) {
            return Optional.empty();
        }
        TokenizerFiles.Builder b = TokenizerFiles.newBuilder().setDigest(hf.digest().get())
                .addAllEndOfSequence(new TreeSet<>(hf.endOfSequenceIds()));
        for (String name : FILES) {
            Path file = hf.directory().resolve(name);
            if (Files.isRegularFile(file)) {
                try {
                    b.addFiles(TokenizerFile.newBuilder().setName(name).setGzipContent(gzip(Files.readAllBytes(file))));
                } catch (IOException e) {
                    throw new FusionException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
                }
            }
        }
        return Optional.of(b.build());
    }

    /**
     * Writes {@code files} into {@code dir} (created; its contents replaced) and loads the codec, with the given
     * end-of-sequence ids. Refuses a file name outside {@link #FILES}, a file past {@link #MAX_FILE_BYTES}, and files
     * whose codec's digest is not the claimed one.
     */
    static HfTextCodec load(TokenizerFiles files, Path dir) {
        requireNonNull(files, "files is null");
        requireNonNull(dir, "dir is null");
        if (!files.getDigest().matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("tokenizer digest must be 64 lower-case hex digits (SHA-256), got '"
                    + abbreviate(files.getDigest()) + "'");
        }
        Set<String> seen = new HashSet<>();
        boolean json = false;
        for (TokenizerFile f : files.getFilesList()) {
            if (!FILES.contains(f.getName())) {
                throw new IllegalArgumentException("tokenizer file name '" + abbreviate(f.getName()) + "' is not one of "
                        + FILES);
            }
            if (!seen.add(f.getName())) {
                throw new IllegalArgumentException("tokenizer file '" + f.getName() + "' is given twice");
            }
            json |= f.getName().equals("tokenizer.json");
        }
        if (!json) {
            throw new IllegalArgumentException("the tokenizer files lack tokenizer.json");
        }
        try {
            Path staging = Files.createTempDirectory(dir.getParent(), ".staging-");
            try {
                for (TokenizerFile f : files.getFilesList()) {
                    Files.write(staging.resolve(f.getName()), gunzip(f.getGzipContent(), f.getName()));
                }
                deleteTree(dir);
                Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                deleteTree(staging);
            }
        } catch (IOException e) {
            throw new FusionException("cannot write tokenizer files to " + dir + ": " + e.getMessage(), e);
        }
        HfTextCodec loaded;
        try {
            loaded = HfTextCodec.load(dir);
        } catch (FusionException e) {
            throw new IllegalArgumentException("the tokenizer files do not load: " + e.getMessage(), e);
        }
        Set<Integer> eos = new TreeSet<>(files.getEndOfSequenceList());
        HfTextCodec codec = loaded;
        if (!eos.isEmpty() && !eos.equals(new TreeSet<>(loaded.endOfSequenceIds()))) {
            codec = loaded.withEndOfSequenceIds(eos);
            loaded.close();
        }
        String digest = codec.digest().orElse("");
        if (!digest.equals(files.getDigest())) {
            codec.close();
            throw new IllegalArgumentException("the tokenizer files give digest " + digest + ", not the claimed "
                    + files.getDigest() + "; send the files of the tokenizer the digest names");
        }
        return codec;
    }

    static ByteString gzip(byte[] bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length / 4 + 64);
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return ByteString.copyFrom(out.toByteArray());
    }

    private static byte[] gunzip(ByteString content, String name) {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(content.toByteArray()))) {
            byte[] bytes = in.readNBytes(MAX_FILE_BYTES + 1);
            if (bytes.length > MAX_FILE_BYTES) {
                throw new IllegalArgumentException("tokenizer file '" + name + "' is larger than " + MAX_FILE_BYTES
                        + " bytes once decompressed");
            }
            return bytes;
        } catch (IOException e) {
            throw new IllegalArgumentException("tokenizer file '" + name + "' is not gzip data: " + e.getMessage());
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
