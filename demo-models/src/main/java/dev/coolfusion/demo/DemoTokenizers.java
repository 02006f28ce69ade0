package dev.coolfusion.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BiPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Trains and writes the three demo tokenizers as Hugging Face {@code tokenizer.json} files, one per tokenizer family:
 *
 * <ul>
 *   <li>{@link Kind#BYTE_BPE}: byte-level BPE behind the Llama 3 split regex (numbers in runs of up to three digits,
 *       a space before a word belongs to it, a space before a number is a word of its own), ByteLevel decoder.</li>
 *   <li>{@link Kind#SENTENCEPIECE}: Llama 2 style: normalizer {@code Prepend("▁")} + {@code Replace(" ", "▁")}, no
 *       pre-tokenizer, BPE with byte fallback ({@code <0xNN>} tokens; newline is a byte), single digits (no merge
 *       touches a digit), decoder Replace/ByteFallback/Fuse/Strip.</li>
 *   <li>{@link Kind#WHOLE_NUMBER}: Metaspace words, digit runs and punctuation split off, BPE that merges whole
 *       numbers into single tokens.</li>
 * </ul>
 *
 * Ids 0, 1, 2 are {@code <unk>}, {@code <s>}, {@code </s>} in every family. Training is deterministic: the most
 * frequent pair wins, ties go to the lexicographically smallest pair.
 */
public final class DemoTokenizers {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String[] SPECIALS = {"<unk>", "<s>", "</s>"};
    static final String SP = "\u2581";
    /** The Llama 3 pre-tokenizer pattern. */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** The tokenizer families. */
    public enum Kind { BYTE_BPE, SENTENCEPIECE, WHOLE_NUMBER }

    private DemoTokenizers() {}

    /** Trains a tokenizer of {@code kind} with {@code merges} merges on {@code texts} and writes it into {@code dir}. */
    public static void write(Kind kind, List<String> texts, int merges, int maxPositions, Path dir) throws IOException {
        Files.createDirectories(dir);
        ObjectNode t = switch (kind) {
            case BYTE_BPE -> byteBpe(texts, merges);
            case SENTENCEPIECE -> sentencePiece(texts, merges);
            case WHOLE_NUMBER -> wholeNumber(texts, merges);
        };
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer.json").toFile(), t);
        ObjectNode tc = JSON.createObjectNode();
        tc.put("add_bos_token", true);
        tc.put("add_eos_token", false);
        tc.put("bos_token", SPECIALS[1]);
        tc.put("eos_token", SPECIALS[2]);
        tc.put("unk_token", SPECIALS[0]);
        tc.put("model_max_length", maxPositions);
        tc.put("tokenizer_class", kind == Kind.SENTENCEPIECE ? "LlamaTokenizerFast" : "PreTrainedTokenizerFast");
        tc.put("clean_up_tokenization_spaces", false);
        tc.put("legacy", false);
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer_config.json").toFile(), tc);
    }

    // ------------------------------------------------------------------------------------------------ families

    private static ObjectNode byteBpe(List<String> texts, int merges) {
        char[] byteChar = bytesToUnicode();
        Map<List<String>, Long> words = new HashMap<>();
        Pattern p = Pattern.compile(LLAMA3_REGEX);
        for (String text : texts) {
            Matcher m = p.matcher(text);
            while (m.find()) {
                List<String> symbols = new ArrayList<>();
                for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) {
                    symbols.add(String.valueOf(byteChar[b & 0xff]));
                }
                words.merge(symbols, 1L, Long::sum);
            }
        }
        List<String[]> learned = train(words, merges, (a, b) -> true);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        addSpecials(vocab);
        for (int b = 0; b < 256; b++) {
            vocab.putIfAbsent(String.valueOf(byteChar[b]), vocab.size());
        }
        addMerged(vocab, learned);
        ObjectNode t = header();
        t.putNull("normalizer");
        ObjectNode pre = t.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode pres = pre.putArray("pretokenizers");
        ObjectNode split = pres.addObject();
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", LLAMA3_REGEX);
        split.put("behavior", "Isolated");
        split.put("invert", false);
        ObjectNode bl = pres.addObject();
        bl.put("type", "ByteLevel");
        bl.put("add_prefix_space", false);
        bl.put("trim_offsets", true);
        bl.put("use_regex", false);
        t.putNull("post_processor");
        ObjectNode dec = t.putObject("decoder");
        dec.put("type", "ByteLevel");
        dec.put("add_prefix_space", true);
        dec.put("trim_offsets", true);
        dec.put("use_regex", true);
        bpeModel(t, vocab, learned, null, false, false);
        return t;
    }

    private static ObjectNode sentencePiece(List<String> texts, int merges) {
        Map<List<String>, Long> words = new HashMap<>();
        TreeSet<String> chars = new TreeSet<>();
        for (String text : texts) {
            String norm = SP + text.replace(" ", SP);
            for (String unit : norm.split("(?=" + SP + ")")) {
                if (unit.isEmpty()) {
                    continue;
                }
                List<String> symbols = new ArrayList<>();
                unit.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
                for (String s : symbols) {
                    if (spChar(s)) {
                        chars.add(s);
                    }
                }
                words.merge(symbols, 1L, Long::sum);
            }
        }
        List<String[]> learned = train(words, merges, (a, b) -> spMergeable(a) && spMergeable(b));
        Map<String, Integer> vocab = new LinkedHashMap<>();
        addSpecials(vocab);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), vocab.size());
        }
        for (String c : chars) {
            vocab.putIfAbsent(c, vocab.size());
        }
        addMerged(vocab, learned);
        ObjectNode t = header();
        ObjectNode norm = t.putObject("normalizer");
        norm.put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", SP);
        ObjectNode rep = ns.addObject();
        rep.put("type", "Replace");
        rep.putObject("pattern").put("String", " ");
        rep.put("content", SP);
        t.putNull("pre_tokenizer");
        t.putNull("post_processor");
        ObjectNode dec = t.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ObjectNode r = ds.addObject();
        r.put("type", "Replace");
        r.putObject("pattern").put("String", SP);
        r.put("content", " ");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ObjectNode strip = ds.addObject();
        strip.put("type", "Strip");
        strip.put("content", " ");
        strip.put("start", 1);
        strip.put("stop", 0);
        bpeModel(t, vocab, learned, SPECIALS[0], true, true);
        return t;
    }

    /** Characters the SentencePiece vocabulary holds as pieces; others (newline, non-ASCII) fall back to bytes. */
    private static boolean spChar(String s) {
        return s.equals(SP) || (s.length() == 1 && s.charAt(0) >= 0x20 && s.charAt(0) < 0x7f);
    }

    private static boolean spMergeable(String symbol) {
        for (int i = 0; i < symbol.length(); i++) {
            char c = symbol.charAt(i);
            if (Character.isDigit(c) || c == '\n') {
                return false;
            }
        }
        return spChar(symbol.substring(0, 1)) || symbol.length() > 1;
    }

    private static ObjectNode wholeNumber(List<String> texts, int merges) {
        Map<List<String>, Long> words = new HashMap<>();
        TreeSet<String> chars = new TreeSet<>();
        Pattern piece = Pattern.compile(SP + "?[\\p{L}]+|\\p{N}+|[^\\p{L}\\p{N}" + SP + "]|" + SP);
        for (String text : texts) {
            String norm = SP + text.replace(" ", SP);
            Matcher m = piece.matcher(norm);
            while (m.find()) {
                List<String> symbols = new ArrayList<>();
                m.group().codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
                chars.addAll(symbols);
                words.merge(symbols, 1L, Long::sum);
            }
        }
        List<String[]> learned = train(words, merges, (a, b) -> true);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        addSpecials(vocab);
        for (String c : chars) {
            vocab.putIfAbsent(c, vocab.size());
        }
        addMerged(vocab, learned);
        ObjectNode t = header();
        t.putNull("normalizer");
        ObjectNode pre = t.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode pres = pre.putArray("pretokenizers");
        ObjectNode ms = pres.addObject();
        ms.put("type", "Metaspace");
        ms.put("replacement", SP);
        ms.put("prepend_scheme", "first");
        ms.put("split", true);
        pres.addObject().put("type", "Digits").put("individual_digits", false);
        pres.addObject().put("type", "Punctuation").put("behavior", "Isolated");
        t.putNull("post_processor");
        ObjectNode dec = t.putObject("decoder");
        dec.put("type", "Metaspace");
        dec.put("replacement", SP);
        dec.put("prepend_scheme", "first");
        dec.put("split", true);
        bpeModel(t, vocab, learned, SPECIALS[0], false, false);
        return t;
    }

    // ------------------------------------------------------------------------------------------------ BPE

    /** Learns up to {@code merges} merges over word frequencies; only pairs {@code allowed} accepts merge. */
    static List<String[]> train(Map<List<String>, Long> wordFreqs, int merges, BiPredicate<String, String> allowed) {
        List<List<String>> words = new ArrayList<>();
        List<Long> freqs = new ArrayList<>();
        // Sorted for determinism.
        TreeMap<String, Map.Entry<List<String>, Long>> sorted = new TreeMap<>();
        for (Map.Entry<List<String>, Long> e : wordFreqs.entrySet()) {
            sorted.put(String.join("\u0001", e.getKey()), e);
        }
        for (Map.Entry<List<String>, Long> e : sorted.values()) {
            words.add(new ArrayList<>(e.getKey()));
            freqs.add(e.getValue());
        }
        List<String[]> out = new ArrayList<>();
        for (int m = 0; m < merges; m++) {
            Map<String, Long> counts = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                List<String> s = words.get(w);
                for (int i = 0; i + 1 < s.size(); i++) {
                    if (allowed.test(s.get(i), s.get(i + 1))) {
                        counts.merge(s.get(i) + "\u0000" + s.get(i + 1), freqs.get(w), Long::sum);
                    }
                }
            }
            String best = null;
            long bestCount = 1; // a pair seen once is not worth a token
            for (Map.Entry<String, Long> e : counts.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best == null) {
                break;
            }
            String[] pair = best.split("\u0000", -1);
            out.add(pair);
            String joined = pair[0] + pair[1];
            for (List<String> s : words) {
                for (int i = 0; i + 1 < s.size(); i++) {
                    if (s.get(i).equals(pair[0]) && s.get(i + 1).equals(pair[1])) {
                        s.set(i, joined);
                        s.remove(i + 1);
                    }
                }
            }
        }
        return out;
    }

    private static void addSpecials(Map<String, Integer> vocab) {
        for (String s : SPECIALS) {
            vocab.put(s, vocab.size());
        }
    }

    private static void addMerged(Map<String, Integer> vocab, List<String[]> merges) {
        for (String[] m : merges) {
            vocab.putIfAbsent(m[0] + m[1], vocab.size());
        }
    }

    private static ObjectNode header() {
        ObjectNode t = JSON.createObjectNode();
        t.put("version", "1.0");
        t.putNull("truncation");
        t.putNull("padding");
        ArrayNode added = t.putArray("added_tokens");
        for (int i = 0; i < SPECIALS.length; i++) {
            ObjectNode a = added.addObject();
            a.put("id", i);
            a.put("content", SPECIALS[i]);
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
        }
        return t;
    }

    private static void bpeModel(ObjectNode t, Map<String, Integer> vocab, List<String[]> merges, String unk,
            boolean fuseUnk, boolean byteFallback) {
        ObjectNode model = t.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        if (unk == null) {
            model.putNull("unk_token");
        } else {
            model.put("unk_token", unk);
        }
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", fuseUnk);
        model.put("byte_fallback", byteFallback);
        model.put("ignore_merges", false);
        ObjectNode v = model.putObject("vocab");
        vocab.forEach(v::put);
        ArrayNode ms = model.putArray("merges");
        for (String[] m : merges) {
            ArrayNode pair = ms.addArray();
            pair.add(m[0]);
            pair.add(m[1]);
        }
    }

    /** GPT-2's reversible byte-to-character table. */
    static char[] bytesToUnicode() {
        char[] out = new char[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            direct[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            direct[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            direct[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (direct[b]) {
                out[b] = (char) b;
            } else {
                out[b] = (char) (256 + n++);
            }
        }
        return out;
    }
}
