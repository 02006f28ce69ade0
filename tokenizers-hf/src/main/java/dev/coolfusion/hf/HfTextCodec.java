package dev.coolfusion.hf;

import static java.util.Objects.requireNonNull;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import com.fasterxml.jackson.databind.JsonNode;
import dev.coolfusion.spi.ChatTemplate;
import dev.coolfusion.spi.Encoded;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.Span;
import dev.coolfusion.spi.TextCodec;
import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link TextCodec} over a Hugging Face {@code tokenizer.json}, run by DJL's bindings of the Rust tokenizers.
 *
 * <p><b>Words.</b> A token starts a word when the pre-tokenizer starts one (its word id differs from the previous
 * token's; Llama 3, Qwen) or when it begins with the SentencePiece space marker {@code ▁} (Llama 2, Phi-3, which
 * have no pre-tokenizer and give every token word id 0). Both rules always apply, which covers tokenizers that need
 * both. A word spans from its first token's start to the next word's start, so whitespace before a word belongs to
 * it: {@code " not the"} is {@code " not" | " the"}.
 *
 * <p><b>Continuations.</b> SentencePiece tokenizers prepend a space marker to a document and strip it again when
 * decoding. Text in the middle of a document gets neither. The continuation methods therefore encode and decode
 * behind a short anchor ({@code "\n"}, else {@code "a"}, else {@code "1"}) and cut the anchor off again, verifying
 * that the anchor's tokens are unchanged; this yields the tokens the text gets in the middle of a document.
 *
 * <p><b>Native calls.</b> DJL's {@code encode} fetches ten arrays from the native encoding (type ids, attention and
 * special-token masks, overflow, ...), each a JNI call that copies; the codec needs four, and the token strings of
 * ids it has seen before it already knows. So it asks the native library for the ids, word ids and character spans
 * only, and for the token strings only when an id is new (issue 16; the tests check the answers against DJL's
 * {@code Encoding} on real tokenizers).
 *
 * <p>Instances are thread-safe and, but for that cache of token strings, immutable; {@link #close()} frees the native
 * tokenizer.
 */
public final class HfTextCodec implements TextCodec, AutoCloseable {
    private static final String SPACE_MARKER = "\u2581";
    private static final List<String> ANCHORS = List.of("\n", "a", "1");

    private final String name;
    private final HuggingFaceTokenizer tokenizer;
    /** How many codecs share {@link #tokenizer}; the last {@link #close()} frees it. */
    private final AtomicInteger sharers;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Set<Integer> specialIds;
    private final Set<Integer> endOfSequenceIds;
    private final OptionalInt beginOfSequenceId;
    private final boolean addBos;
    private final Optional<ChatTemplate> chatTemplate;
    private final Map<String, long[]> anchorIds;
    private final Map<String, String> anchorDecoded;
    /** The token string of every id an encoding has returned so far; a function of the id for one tokenizer. */
    private final Map<Integer, String> tokenStrings = new ConcurrentHashMap<>();
    private final Path directory;
    private final byte[] filesDigest;

    private HfTextCodec(String name, Path directory, byte[] filesDigest, HuggingFaceTokenizer tokenizer,
            Set<Integer> specialIds, Set<Integer> endOfSequenceIds, OptionalInt beginOfSequenceId, boolean addBos,
            Optional<ChatTemplate> chatTemplate, AtomicInteger sharers) {
        this.name = name;
        this.directory = directory;
        this.filesDigest = filesDigest;
        this.chatTemplate = chatTemplate;
        this.tokenizer = tokenizer;
        this.sharers = sharers;
        this.specialIds = Set.copyOf(specialIds);
        this.endOfSequenceIds = Set.copyOf(endOfSequenceIds);
        this.beginOfSequenceId = beginOfSequenceId;
        this.addBos = addBos;
        this.anchorIds = new HashMap<>();
        this.anchorDecoded = new HashMap<>();
        for (String anchor : ANCHORS) {
            long[] ids = rawEncode(anchor).ids();
            anchorIds.put(anchor, ids);
            anchorDecoded.put(anchor, tokenizer.decode(ids, true));
        }
    }

    /**
     * Loads a tokenizer from a model folder (containing {@code tokenizer.json}) or from the path of a
     * {@code tokenizer.json}. End-of-sequence ids come from the folder's {@code generation_config.json} or
     * {@code config.json} ({@code eos_token_id}, an int or a list), else from {@code tokenizer_config.json}'s
     * {@code eos_token}.
     */
    public static HfTextCodec load(Path modelDirOrTokenizerJson) {
        requireNonNull(modelDirOrTokenizerJson, "modelDirOrTokenizerJson is null");
        Path json = Files.isDirectory(modelDirOrTokenizerJson)
                ? modelDirOrTokenizerJson.resolve("tokenizer.json")
                : modelDirOrTokenizerJson;
        if (!Files.isRegularFile(json) || !Files.isReadable(json)) {
            throw new FusionException("cannot read tokenizer file " + json.toAbsolutePath()
                    + ": give a Hugging Face model folder that contains tokenizer.json, or the path of a tokenizer.json");
        }
        Path dir = json.toAbsolutePath().getParent();
        HuggingFaceTokenizer tokenizer;
        try {
            // No truncation or padding: fusion works on exact token sequences.
            tokenizer = HuggingFaceTokenizer.newInstance(json, Map.of("truncation", "false", "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw new FusionException("cannot load tokenizer " + json.toAbsolutePath() + ": " + e.getMessage()
                    + " (is it a Hugging Face tokenizer.json?)", e);
        }
        try {
            Map<Integer, String> added = HfModelFiles.addedSpecialTokens(json);
            JsonNode config = HfModelFiles.tokenizerConfig(dir);
            Set<Integer> eos = HfModelFiles.endOfSequenceIds(dir, config, added);
            OptionalInt bos = HfModelFiles.specialId(config.path("bos_token"), added);
            boolean addBos = config.path("add_bos_token").asBoolean(false);
            String name = dir.getFileName() == null ? json.toString() : dir.getFileName().toString();
            Optional<ChatTemplate> template = HfModelFiles.chatTemplate(dir, config, null, dir.resolve("tokenizer_config.json").toString());
            byte[] files = filesDigest(json, dir.resolve("tokenizer_config.json"));
            return new HfTextCodec(name, dir, files, tokenizer, added.keySet(), eos, bos, addBos, template,
                    new AtomicInteger(1));
        } catch (RuntimeException e) {
            tokenizer.close();
            throw e;
        }
    }

    /**
     * A copy with other end-of-sequence ids, e.g. from a model's generation config. It shares the native tokenizer,
     * which is freed when the original and every copy are closed.
     */
    public HfTextCodec withEndOfSequenceIds(Set<Integer> ids) {
        requireNonNull(ids, "ids is null");
        if (closed.get()) {
            throw new IllegalStateException("tokenizer " + name + " is closed");
        }
        sharers.incrementAndGet();
        return new HfTextCodec(name, directory, filesDigest, tokenizer, specialIds, ids, beginOfSequenceId, addBos,
                chatTemplate, sharers);
    }

    /** The folder this codec was loaded from (the one holding its {@code tokenizer.json}). */
    public Path directory() {
        return directory;
    }

    /**
     * SHA-256 over {@code tokenizer.json}, {@code tokenizer_config.json} (when present) and the special ids in use
     * (end-of-sequence, begin-of-sequence, whether it is added), as hex.
     */
    @Override
    public Optional<String> digest() {
        MessageDigest sha = sha256();
        sha.update(filesDigest);
        sha.update(("eos=" + new TreeSet<>(endOfSequenceIds) + ";bos=" + beginOfSequenceId + ";add=" + addBos)
                .getBytes(StandardCharsets.UTF_8));
        return Optional.of(HexFormat.of().formatHex(sha.digest()));
    }

    private static byte[] filesDigest(Path... files) {
        MessageDigest sha = sha256();
        for (Path file : files) {
            try {
                if (Files.isRegularFile(file)) {
                    sha.update(file.getFileName().toString().getBytes(StandardCharsets.UTF_8));
                    sha.update(Files.readAllBytes(file));
                }
            } catch (IOException e) {
                throw new FusionException("cannot read " + file + ": " + e.getMessage(), e);
            }
        }
        return sha.digest();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    /** The folder (or file) name this codec was loaded from. */
    public String name() {
        return name;
    }

    @Override
    public Encoded encode(String text) {
        requireNonNull(text, "text is null");
        if (text.isEmpty()) {
            return new Encoded(text, List.of(), List.of(), List.of());
        }
        return toEncoded(text, rawEncode(text), 0, 0);
    }

    /** What the codec needs of a native encoding (without special tokens): a subset of DJL's {@link Encoding}. */
    private record RawEncoding(long[] ids, String[] tokens, long[] wordIds, CharSpan[] spans) {}

    /**
     * {@code tokenizer.encode(text, false, false)} as DJL runs it (its text preparation is the identity here: the
     * codec sets none of add-prefix-space, lower-casing and accent stripping), keeping only ids, token strings, word
     * ids and character spans, and fetching the token strings only for ids not seen before.
     */
    private RawEncoding rawEncode(String text) {
        TokenizersLibrary lib = TokenizersLibrary.LIB;
        try {
            long encoding = lib.encode(tokenizer.getHandle(), text, false);
            try {
                long[] ids = lib.getTokenIds(encoding);
                String[] tokens = knownTokens(ids);
                if (tokens == null) {
                    tokens = lib.getTokens(encoding);
                    for (int i = 0; i < ids.length; i++) {
                        tokenStrings.putIfAbsent(Math.toIntExact(ids[i]), tokens[i]);
                    }
                }
                return new RawEncoding(ids, tokens, lib.getWordIds(encoding), lib.getTokenCharSpans(encoding));
            } finally {
                lib.deleteEncoding(encoding);
            }
        } finally {
            // The native tokenizer must outlive the call: DJL frees it once the Java object is unreachable.
            Reference.reachabilityFence(tokenizer);
        }
    }

    /** {@code tokenizer.encode(text, addSpecialTokens, false).getIds()}, fetching nothing else. */
    private long[] rawIds(String text, boolean addSpecialTokens) {
        TokenizersLibrary lib = TokenizersLibrary.LIB;
        try {
            long encoding = lib.encode(tokenizer.getHandle(), text, addSpecialTokens);
            try {
                return lib.getTokenIds(encoding);
            } finally {
                lib.deleteEncoding(encoding);
            }
        } finally {
            Reference.reachabilityFence(tokenizer);
        }
    }

    /** The token strings of {@code ids} if every id has been seen before, else null. */
    private String[] knownTokens(long[] ids) {
        String[] tokens = new String[ids.length];
        for (int i = 0; i < ids.length; i++) {
            tokens[i] = tokenStrings.get((int) ids[i]);
            if (tokens[i] == null) {
                return null;
            }
        }
        return tokens;
    }

    @Override
    public Encoded encodeContinuation(String text) {
        requireNonNull(text, "text is null");
        if (text.isEmpty()) {
            return new Encoded(text, List.of(), List.of(), List.of());
        }
        for (String anchor : ANCHORS) {
            long[] prefix = anchorIds.get(anchor);
            RawEncoding encoding = rawEncode(anchor + text);
            if (startsWithAnchor(encoding, prefix, anchor)) {
                return toEncoded(text, encoding, prefix.length, anchor.codePointCount(0, anchor.length()));
            }
        }
        return encode(text);
    }

    private static boolean startsWithAnchor(RawEncoding encoding, long[] prefix, String anchor) {
        long[] ids = encoding.ids();
        if (ids.length <= prefix.length || !Arrays.equals(ids, 0, prefix.length, prefix, 0, prefix.length)) {
            return false;
        }
        int anchorCodePoints = anchor.codePointCount(0, anchor.length());
        CharSpan first = encoding.spans()[prefix.length];
        return first != null && first.getStart() >= anchorCodePoints;
    }

    private Encoded toEncoded(String text, RawEncoding encoding, int skipTokens, int skipCodePoints) {
        long[] ids = encoding.ids();
        String[] tokens = encoding.tokens();
        long[] wordIds = encoding.wordIds();
        CharSpan[] spans = encoding.spans();
        int n = ids.length - skipTokens;
        List<Integer> idList = new ArrayList<>(n);
        List<String> tokenList = new ArrayList<>(n);
        List<Integer> starts = new ArrayList<>();
        starts.add(0);
        int codePoints = text.codePointCount(0, text.length());
        for (int i = skipTokens; i < ids.length; i++) {
            idList.add(Math.toIntExact(ids[i]));
            tokenList.add(tokens[i]);
            boolean wordStart = i == skipTokens
                    || wordIds[i] != wordIds[i - 1]
                    || tokens[i].startsWith(SPACE_MARKER);
            CharSpan span = spans[i];
            if (wordStart && span != null) {
                int cp = Math.min(Math.max(span.getStart() - skipCodePoints, 0), codePoints);
                int offset = text.offsetByCodePoints(0, cp);
                if (offset > starts.get(starts.size() - 1)) {
                    starts.add(offset);
                }
            }
        }
        List<Span> words = new ArrayList<>(starts.size());
        for (int w = 0; w < starts.size(); w++) {
            int end = w + 1 < starts.size() ? starts.get(w + 1) : text.length();
            words.add(new Span(starts.get(w), end));
        }
        return new Encoded(text, idList, tokenList, words);
    }

    @Override
    public String decode(List<Integer> ids) {
        requireNonNull(ids, "ids is null");
        return tokenizer.decode(toLongs(ids, null), true);
    }

    /** One token as text for display; special tokens show their name (e.g. {@code <s>}). */
    public String tokenText(int id) {
        return tokenizer.decode(new long[] {id}, false);
    }

    @Override
    public String decodeContinuation(List<Integer> ids) {
        requireNonNull(ids, "ids is null");
        if (ids.isEmpty()) {
            return "";
        }
        String anchor = ANCHORS.get(0);
        long[] prefix = anchorIds.get(anchor);
        String decodedAnchor = anchorDecoded.get(anchor);
        String decoded = tokenizer.decode(toLongs(ids, prefix), true);
        if (decoded.startsWith(decodedAnchor)) {
            return decoded.substring(decodedAnchor.length());
        }
        return decode(ids);
    }

    private static long[] toLongs(List<Integer> ids, long[] prefix) {
        int offset = prefix == null ? 0 : prefix.length;
        long[] out = new long[offset + ids.size()];
        if (prefix != null) {
            System.arraycopy(prefix, 0, out, 0, offset);
        }
        for (int i = 0; i < ids.size(); i++) {
            out[offset + i] = ids.get(i);
        }
        return out;
    }

    /**
     * Tokenizes a prompt as Hugging Face does: with the special tokens of the {@code tokenizer.json}
     * post-processor, plus the begin-of-sequence token when {@code tokenizer_config.json} sets
     * {@code add_bos_token} and the post-processor did not add it.
     */
    @Override
    public List<Integer> encodePrompt(String text) {
        requireNonNull(text, "text is null");
        // Only the ids: a prompt has hundreds of tokens, and their strings and spans are what DJL's encode spends
        // most of its time fetching.
        long[] ids = rawIds(text, true);
        List<Integer> out = new ArrayList<>(ids.length + 1);
        if (addBos && beginOfSequenceId.isPresent() && (ids.length == 0 || ids[0] != beginOfSequenceId.getAsInt())) {
            out.add(beginOfSequenceId.getAsInt());
        }
        for (long id : ids) {
            out.add(Math.toIntExact(id));
        }
        return out;
    }

    @Override
    public OptionalInt beginOfSequenceId() {
        return beginOfSequenceId;
    }

    @Override
    public Set<Integer> endOfSequenceIds() {
        return endOfSequenceIds;
    }

    @Override
    public boolean isSpecial(int id) {
        return specialIds.contains(id);
    }

    /** Frees the native tokenizer once this codec and every copy sharing it are closed; closing twice is a no-op. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true) && sharers.decrementAndGet() == 0) {
            tokenizer.close();
        }
    }

    @Override
    public String toString() {
        return "HfTextCodec[" + name + "]";
    }

    /**
     * The model's chat template, read by {@link HfModelFiles} from the folder's {@code tokenizer_config.json}
     * ({@code chat_template}, a string or a list of {@code {name, template}} of which {@code default} is used) or,
     * taking precedence as in {@code transformers}, its {@code chat_template.jinja}.
     *
     * <p>A prompt rendered with it contains the special-token strings the template writes; {@link #encode} turns
     * them into their special ids (added tokens are matched before the model's tokenization) and adds nothing else,
     * like {@code apply_chat_template(tokenize=True)}, which encodes with {@code add_special_tokens=False}.
     */
    @Override
    public Optional<ChatTemplate> chatTemplate() {
        return chatTemplate;
    }
}
