package dev.coolfusion.djl.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.testkit.TinyCheckpoints;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * bfloat16 checkpoints (how most models are published) load widened exactly: a folder whose weights are stored as BF16
 * gives bit for bit the model of the same folder with those values stored as F32, which is what transformers computes
 * in float32 on the same weights ({@code from_pretrained(dtype=float32)} widens the same way). Each hf-tiny2 family,
 * its weights rounded to bfloat16.
 */
class Bfloat16CheckpointTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"phi3-longrope-long", "glm4", "qwen3", "gemma2", "gemma3", "mistral-sliding-window"})
    void bfloat16WeightsLoadAsTheirFloat32Values(String folder) throws IOException {
        Path dir = Fixtures.hfTiny2(folder);
        Path bf16 = copy(dir, tmp.resolve(folder + "-bf16"), true);
        Path f32 = copy(dir, tmp.resolve(folder + "-f32"), false);
        List<Integer> ids = new ArrayList<>();
        ReferenceCheck.reference(dir).get("input_ids").get(0).forEach(n -> ids.add(n.asInt()));
        float[][] a = run(bf16, ids);
        float[][] b = run(f32, ids);
        for (int i = 0; i < a.length; i++) {
            assertArrayEquals(b[i], a[i], 0f, folder + " output " + i);
        }
        assertTrue(a[0].length > 0);
    }

    /** One forward over every position, and the cached path: a prefix of 8, then single-token steps. */
    private static float[][] run(Path dir, List<Integer> ids) {
        try (DjlSourceModel model = DjlSourceModel.load(dir, DjlModelOptions.defaults())) {
            float[] full = StateSteps.flat(model.sequenceLogProbs(ids));
            StateHandle s = model.open(ids.subList(0, 8));
            List<StateHandle> handles = new ArrayList<>(List.of(s));
            for (int t = 8; t < ids.size(); t++) {
                s = StateSteps.append(model, s, ids.get(t));
                handles.add(s);
            }
            float[] last = model.nextLogProbs(s);
            model.release(handles);
            return new float[][] {full, last};
        }
    }

    /**
     * A copy of {@code dir} whose {@code model.safetensors} holds each F32 weight rounded to bfloat16: stored as BF16
     * ({@code asBf16}) or as the F32 value of that bfloat16.
     */
    private static Path copy(Path dir, Path target, boolean asBf16) throws IOException {
        Files.createDirectories(target);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (!f.getFileName().toString().endsWith(".safetensors")) {
                    Files.createSymbolicLink(target.resolve(f.getFileName()), f.toAbsolutePath());
                }
            }
        }
        byte[] file = Files.readAllBytes(dir.resolve("model.safetensors"));
        ByteBuffer in = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = (int) in.getLong(0);
        JsonNode header = JSON.readTree(new String(file, 8, headerLength, StandardCharsets.UTF_8));
        ObjectNode out = JSON.createObjectNode();
        List<byte[]> chunks = new ArrayList<>();
        long offset = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                out.set(e.getKey(), e.getValue());
                continue;
            }
            JsonNode t = e.getValue();
            if (!t.get("dtype").asText().equals("F32")) {
                throw new IllegalStateException(e.getKey() + " is not F32");
            }
            long begin = t.get("data_offsets").get(0).asLong();
            long end = t.get("data_offsets").get(1).asLong();
            int n = (int) ((end - begin) / 4);
            ByteBuffer data = ByteBuffer.allocate(n * (asBf16 ? 2 : 4)).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                float v = in.getFloat(8 + headerLength + (int) begin + 4 * i);
                short bits = TinyCheckpoints.toBfloat16(v);
                if (asBf16) {
                    data.putShort(bits);
                } else {
                    data.putFloat(Float.intBitsToFloat((bits & 0xFFFF) << 16));
                }
            }
            ObjectNode entry = out.putObject(e.getKey());
            entry.put("dtype", asBf16 ? "BF16" : "F32");
            entry.set("shape", t.get("shape"));
            entry.putArray("data_offsets").add(offset).add(offset + data.capacity());
            offset += data.capacity();
            chunks.add(data.array());
        }
        byte[] json = JSON.writeValueAsBytes(out);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        try (var ch = Files.newOutputStream(target.resolve("model.safetensors"))) {
            ch.write(head.array());
            for (byte[] c : chunks) {
                ch.write(c);
            }
        }
        return target;
    }
}
