package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.coolfusion.spi.FusionException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads tensors from a Hugging Face folder's {@code model.safetensors}, or from the shards listed in
 * {@code model.safetensors.index.json}. The format: an 8-byte little-endian header length, a JSON header mapping
 * names to dtype, shape and data offsets, then the raw little-endian data.
 */
final class SafetensorsReader {
    static final String INDEX = "model.safetensors.index.json";
    static final String SINGLE = "model.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    /** Supported element types, by their safetensors name. */
    enum Dtype {
        F32(4), BF16(2), F16(2);

        final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    /** Where one tensor's bytes are: {@code [begin, end)} of {@code file}, counted from the file start. */
    record Entry(String name, Path file, String dtype, long[] shape, long begin, long end) {
        Entry {
            requireNonNull(name, "name is null");
            requireNonNull(file, "file is null");
            requireNonNull(dtype, "dtype is null");
            shape = shape.clone();
        }

        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private final Path dir;
    private final Map<String, Entry> entries;

    private SafetensorsReader(Path dir, Map<String, Entry> entries) {
        this.dir = dir;
        this.entries = entries;
    }

    static SafetensorsReader open(Path dir) {
        requireNonNull(dir, "dir is null");
        Path index = dir.resolve(INDEX);
        Map<String, Entry> entries = new LinkedHashMap<>();
        if (Files.isRegularFile(index)) {
            JsonNode map;
            try {
                map = JSON.readTree(index.toFile()).path("weight_map");
            } catch (IOException e) {
                throw new FusionException("cannot parse " + index.toAbsolutePath() + ": " + e.getMessage(), e);
            }
            if (!map.isObject() || map.size() == 0) {
                throw new FusionException(index.toAbsolutePath() + " has no 'weight_map' object");
            }
            Set<String> shards = new TreeSet<>();
            map.fields().forEachRemaining(e -> shards.add(e.getValue().asText()));
            for (String shard : shards) {
                Path file = dir.resolve(shard);
                if (!Files.isRegularFile(file)) {
                    throw new FusionException(index.getFileName() + " lists shard '" + shard + "', which is missing in "
                            + dir.toAbsolutePath());
                }
                entries.putAll(readHeader(file));
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                Entry entry = entries.get(e.getKey());
                if (entry == null || !entry.file().getFileName().toString().equals(e.getValue().asText())) {
                    throw new FusionException(index.getFileName() + " maps tensor '" + e.getKey() + "' to shard '"
                            + e.getValue().asText() + "', but that shard does not contain it");
                }
            }
        } else if (Files.isRegularFile(dir.resolve(SINGLE))) {
            entries.putAll(readHeader(dir.resolve(SINGLE)));
        } else {
            throw new FusionException("no " + SINGLE + " or " + INDEX + " in " + dir.toAbsolutePath()
                    + " (only safetensors checkpoints are supported)");
        }
        return new SafetensorsReader(dir, entries);
    }

    static Map<String, Entry> readHeader(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
                throw new FusionException(file.toAbsolutePath() + " is not a safetensors file (header length " + headerLen
                        + ", file size " + size + ")");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            readFully(ch, header, 8);
            JsonNode root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
            long dataStart = 8 + headerLen;
            Map<String, Entry> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    continue;
                }
                JsonNode t = e.getValue();
                JsonNode shapeNode = t.path("shape");
                long[] shape = new long[shapeNode.size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = shapeNode.get(i).asLong();
                }
                JsonNode offsets = t.path("data_offsets");
                if (offsets.size() != 2) {
                    throw new FusionException(file.toAbsolutePath() + ": tensor '" + e.getKey() + "' has no data_offsets");
                }
                long begin = dataStart + offsets.get(0).asLong();
                long end = dataStart + offsets.get(1).asLong();
                if (begin < dataStart || end < begin || end > size) {
                    throw new FusionException(file.toAbsolutePath() + ": tensor '" + e.getKey() + "' has data_offsets "
                            + offsets + " outside the file");
                }
                out.put(e.getKey(), new Entry(e.getKey(), file, t.path("dtype").asText(), shape, begin, end));
            }
            return out;
        } catch (IOException e) {
            throw new FusionException("cannot read " + file.toAbsolutePath() + ": " + e.getMessage(), e);
        }
    }

    boolean contains(String name) {
        return entries.containsKey(name);
    }

    Set<String> names() {
        return entries.keySet();
    }

    Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new FusionException("tensor '" + name + "' is missing from the checkpoint in " + dir.toAbsolutePath());
        }
        return e;
    }

    /** The tensor's dtype, or an error naming the tensor, its dtype and the supported ones. */
    Dtype dtype(Entry e) {
        try {
            return Dtype.valueOf(e.dtype());
        } catch (IllegalArgumentException ex) {
            throw new FusionException("tensor '" + e.name() + "' has dtype " + e.dtype() + "; supported dtypes: "
                    + Arrays.toString(Dtype.values()));
        }
    }

    /** The tensor's raw bytes in a direct little-endian buffer, after checking shape and size. */
    ByteBuffer read(String name, long... expectedShape) {
        Entry e = entry(name);
        if (!Arrays.equals(e.shape(), expectedShape)) {
            throw new FusionException("tensor '" + name + "' has shape " + Arrays.toString(e.shape()) + ", expected "
                    + Arrays.toString(expectedShape) + " from config.json");
        }
        Dtype dtype = dtype(e);
        long bytes = e.end() - e.begin();
        if (bytes != e.elements() * dtype.bytes) {
            throw new FusionException("tensor '" + name + "' has " + bytes + " bytes of data, expected "
                    + e.elements() * dtype.bytes + " for " + dtype + " " + Arrays.toString(e.shape()));
        }
        if (bytes > Integer.MAX_VALUE) {
            throw new FusionException("tensor '" + name + "' is larger than 2 GiB, which this reader does not support");
        }
        ByteBuffer buf = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(e.file(), StandardOpenOption.READ)) {
            readFully(ch, buf, e.begin());
        } catch (IOException ex) {
            throw new FusionException("cannot read tensor '" + name + "' from " + e.file() + ": " + ex.getMessage(), ex);
        }
        buf.flip();
        return buf;
    }

    /** Widens BF16 or F16 little-endian data to float32 (exactly: every half value is a float). */
    static ByteBuffer widenToFloat32(ByteBuffer half, Dtype type) {
        int n = half.remaining() / 2;
        if ((long) n * 4 > Integer.MAX_VALUE) {
            throw new FusionException("tensor too large to widen to float32 (" + n + " elements)");
        }
        ByteBuffer out = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer in = half.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            int bits = in.getShort() & 0xFFFF;
            out.putInt(type == Dtype.BF16 ? bits << 16 : halfToFloatBits(bits));
        }
        out.flip();
        return out;
    }

    /** IEEE binary16 bits to binary32 bits, including subnormals, infinities and NaN. */
    static int halfToFloatBits(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1F;
        int mant = h & 0x3FF;
        if (exp == 0x1F) {
            return sign | 0x7F800000 | (mant << 13);
        }
        if (exp == 0) {
            if (mant == 0) {
                return sign;
            }
            // subnormal: normalize
            int e = -1;
            do {
                mant <<= 1;
                e++;
            } while ((mant & 0x400) == 0);
            mant &= 0x3FF;
            return sign | ((127 - 15 - e) << 23) | (mant << 13);
        }
        return sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file at " + pos);
            }
            pos += n;
        }
    }
}
