package dev.coolfusion.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.FusionException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads GSM8K JSON lines: one {@code {"question": …, "answer": "… #### 42"}} per line; blank lines are skipped. */
public final class GsmData {
    private static final ObjectMapper JSON = new ObjectMapper();

    private GsmData() {}

    public static List<GsmItem> read(Path file) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new FusionException("cannot read data file " + file.toAbsolutePath() + ": no such readable file");
        }
        List<GsmItem> items = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new StringReader(readUtf8(file)))) {
            String line;
            int n = 0;
            while ((line = in.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                items.add(parse(line, n, file));
            }
        } catch (IOException e) {
            throw new FusionException("cannot read data file " + file + ": " + e.getMessage(), e);
        }
        if (items.isEmpty()) {
            throw new FusionException(file + ": no items; expected one {\"question\": ..., \"answer\": \"... #### 42\"} per line");
        }
        return items;
    }

    /** The file's text; bytes that are not UTF-8 are an error that says where (line, column, byte offset). */
    static String readUtf8(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length + 1);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            int at = in.position();
            int line = 1;
            int lineStart = 0;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            throw new FusionException(file + ":" + line + ": the file is not UTF-8 (byte 0x"
                    + String.format("%02X", bytes[at] & 0xff) + " at column " + (at - lineStart + 1) + ", offset " + at
                    + "); save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)");
        }
        out.flip();
        return out.toString();
    }

    static GsmItem parse(String line, int n, Path file) {
        String where = file + ":" + n;
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new FusionException(where + ": malformed JSON (" + e.getOriginalMessage()
                    + "); expected {\"question\": ..., \"answer\": \"... #### 42\"}");
        }
        if (node == null || !node.isObject()) {
            throw new FusionException(where + ": expected a JSON object {\"question\": ..., \"answer\": \"... #### 42\"}");
        }
        JsonNode q = node.get("question");
        if (q == null || !q.isTextual() || q.asText().isBlank()) {
            throw new FusionException(where + ": missing or empty \"question\"");
        }
        JsonNode a = node.get("answer");
        if (a == null || !a.isTextual() || a.asText().isBlank()) {
            throw new FusionException(where + ": missing or empty \"answer\"");
        }
        String answer = a.asText();
        int hash = answer.lastIndexOf("####");
        if (hash < 0) {
            throw new FusionException(where + ": the answer has no final \"#### <number>\"");
        }
        String gold = Answers.normalize(answer.substring(hash + 4).strip());
        if (gold == null) {
            throw new FusionException(where + ": the text after \"####\" is not a number: '"
                    + answer.substring(hash + 4).strip() + "'");
        }
        return new GsmItem(n, q.asText(), answer, gold);
    }
}
