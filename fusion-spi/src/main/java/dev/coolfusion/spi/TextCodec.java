package dev.coolfusion.spi;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A tokenizer and word segmenter (Table 1, T2 and T3).
 *
 * <p>Two flavours of each operation exist. The plain ones treat the text as a whole document. The
 * {@code Continuation} ones treat it as the middle of a document, right after a word boundary: this is what the
 * fusion loop needs, because every segment it handles follows earlier text. They differ for tokenizers that
 * prepend a space marker to a document (SentencePiece's dummy prefix) or strip it when decoding.
 */
public interface TextCodec {

    /** Encodes a whole document, without special tokens. */
    Encoded encode(String text);

    /** Encodes {@code text} as it is tokenized when it follows earlier text that ended at a word boundary. */
    default Encoded encodeContinuation(String text) {
        return encode(text);
    }

    /** Decodes token ids of a whole document; special tokens are skipped. */
    String decode(List<Integer> ids);

    /** Decodes ids that continue earlier text, keeping e.g. a leading space that {@link #decode} would strip. */
    default String decodeContinuation(List<Integer> ids) {
        return decode(ids);
    }

    /** Ids that end a sequence (from the model's generation config or tokenizer). */
    Set<Integer> endOfSequenceIds();

    /** The id prepended to a prompt, if any. */
    default OptionalInt beginOfSequenceId() {
        return OptionalInt.empty();
    }

    /** Whether {@code id} is a special (control) token rather than text. */
    boolean isSpecial(int id);

    /** Tokenizes a prompt for {@link SourceModel#open}: the begin-of-sequence id, if any, then the text. */
    default List<Integer> encodePrompt(String text) {
        List<Integer> ids = new ArrayList<>();
        beginOfSequenceId().ifPresent(ids::add);
        ids.addAll(encode(text).ids());
        return ids;
    }

    /** The preferred end-of-sequence id: the smallest of {@link #endOfSequenceIds()}, if any. */
    default OptionalInt primaryEndOfSequenceId() {
        return endOfSequenceIds().stream().mapToInt(Integer::intValue).min();
    }

    /**
     * The model's chat template, if it has one. A prompt rendered with it already contains the special tokens the
     * template writes (e.g. {@code bos_token}), so tokenize it with {@link #encode} and add no begin-of-sequence id.
     */
    default Optional<ChatTemplate> chatTemplate() {
        return Optional.empty();
    }

    /**
     * A digest of everything that decides this codec's encodings, decodings and special ids (for a Hugging Face
     * tokenizer: SHA-256 over {@code tokenizer.json} and {@code tokenizer_config.json}), as lower-case hex. Equal
     * digests encode and decode equally, so a worker in another process can use its own copy of a tokenizer the
     * fusion names by digest.
     *
     * @return the digest, or empty when this codec cannot be identified (the default)
     */
    default Optional<String> digest() {
        return Optional.empty();
    }

    /**
     * The codec behind this one when this one only wraps it (to cache or measure its answers, encoding and decoding
     * exactly as it does); this codec otherwise. A backend that needs a codec's concrete type, for example to send a
     * tokenizer's files to a worker, looks at the innermost codec.
     */
    default TextCodec unwrap() {
        return this;
    }
}
