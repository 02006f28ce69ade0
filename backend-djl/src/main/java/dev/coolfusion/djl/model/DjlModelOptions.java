package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import ai.djl.Device;
import dev.coolfusion.spi.FusionException;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How to load a model: its name, device, dtype, context limit and calibration temperature.
 *
 * @param name       the model's name in traces; empty means the folder name
 * @param device     {@code cpu}, {@code gpu} or {@code gpu:N}
 * @param dtype      weight and activation type on the device
 * @param maxContext the longest sequence accepted; empty means the model's {@code max_position_embeddings} (a
 *                   sliding window limits what its layers see, not the context)
 * @param calibrationTemperature temperature scaling (Guo et al., 2017): the model's distribution becomes
 *                   {@code softmax(logits / T)}, so the log-probabilities it reports (M2's token log-prob, M3's scores)
 *                   and samples from are calibrated; greedy choices are unchanged. 1 is the raw model. Fit it on a
 *                   development set with {@code cool-fusion calibrate}.
 * @param prefixCacheMb the memory (MiB of keys and values) the model may keep for recently opened prompts, so that
 *                   a prompt starting with one of them prefills only the rest; 0 turns the prefix cache off
 * @param batchRows  the most rows one forward batches across concurrent calls: {@code nextToken} calls of different
 *                   generations that arrive while the engine is busy run as one forward, and so do their {@code
 *                   score} calls (a row per candidate); 1 runs every call alone
 */
public record DjlModelOptions(Optional<String> name, String device, ModelDtype dtype, OptionalInt maxContext,
        double calibrationTemperature, int prefixCacheMb, int batchRows) {
    /** The default prefix cache: 256 MiB of keys and values (2,048 tokens of an 8B Llama 3 in float16). */
    public static final int DEFAULT_PREFIX_CACHE_MB = 256;
    /** The default {@link #batchRows()}: 32 rows per forward (8 generations scoring 4 candidates each). */
    public static final int DEFAULT_BATCH_ROWS = 32;
    private static final Pattern DEVICE = Pattern.compile("cpu|gpu(?::(\\d+))?");

    public DjlModelOptions {
        requireNonNull(name, "name is null");
        requireNonNull(device, "device is null");
        requireNonNull(dtype, "dtype is null");
        requireNonNull(maxContext, "maxContext is null");
        name.ifPresent(n -> {
            if (n.isBlank()) {
                throw new FusionException("model name must not be blank");
            }
        });
        device = device.trim().toLowerCase(Locale.ROOT);
        if (!DEVICE.matcher(device).matches()) {
            throw new FusionException("device '" + device + "' is not supported; use cpu, gpu or gpu:N");
        }
        if (maxContext.isPresent() && maxContext.getAsInt() < 1) {
            throw new FusionException("max context must be at least 1, got " + maxContext.getAsInt());
        }
        checkTemperature(calibrationTemperature);
        checkPrefixCache(prefixCacheMb);
        checkBatchRows(batchRows);
    }

    private static void checkBatchRows(int rows) {
        if (rows < 1) {
            throw new FusionException("batch-rows must be >= 1 (the most rows one forward batches across concurrent"
                    + " calls; 1 runs every call alone), got " + rows);
        }
    }

    private static void checkPrefixCache(int mb) {
        if (mb < 0) {
            throw new FusionException("prefix-cache-mb must be >= 0 (MiB of keys and values for recently opened prompts;"
                    + " 0 turns the prefix cache off), got " + mb);
        }
    }

    private static void checkTemperature(double t) {
        if (!(t > 0) || Double.isInfinite(t)) {
            throw new FusionException("calibration temperature must be a finite number > 0 (1 = the raw model), got " + t);
        }
    }

    /** CPU, float32, the model's own context limit, uncalibrated, the default prefix cache. */
    public static DjlModelOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The DJL device. */
    public Device djlDevice() {
        Matcher m = DEVICE.matcher(device);
        if (!m.matches()) {
            throw new IllegalStateException(device);
        }
        if (device.equals("cpu")) {
            return Device.cpu();
        }
        return m.group(1) == null ? Device.gpu() : Device.gpu(Integer.parseInt(m.group(1)));
    }

    /** A fail-fast builder: each setter checks its value. */
    public static final class Builder {
        private Optional<String> name = Optional.empty();
        private String device = "cpu";
        private ModelDtype dtype = ModelDtype.FLOAT32;
        private OptionalInt maxContext = OptionalInt.empty();
        private double calibrationTemperature = 1;
        private int prefixCacheMb = DEFAULT_PREFIX_CACHE_MB;
        private int batchRows = DEFAULT_BATCH_ROWS;

        private Builder() {}

        public Builder name(String name) {
            requireNonNull(name, "name is null");
            if (name.isBlank()) {
                throw new FusionException("model name must not be blank");
            }
            this.name = Optional.of(name);
            return this;
        }

        /** {@code cpu}, {@code gpu} or {@code gpu:N}. */
        public Builder device(String device) {
            requireNonNull(device, "device is null");
            String d = device.trim().toLowerCase(Locale.ROOT);
            if (!DEVICE.matcher(d).matches()) {
                throw new FusionException("device '" + device + "' is not supported; use cpu, gpu or gpu:N");
            }
            this.device = d;
            return this;
        }

        public Builder dtype(ModelDtype dtype) {
            this.dtype = requireNonNull(dtype, "dtype is null");
            return this;
        }

        /** {@code float32}, {@code bfloat16} or {@code float16}. */
        public Builder dtype(String dtype) {
            return dtype(ModelDtype.parse(requireNonNull(dtype, "dtype is null")));
        }

        public Builder maxContext(int tokens) {
            if (tokens < 1) {
                throw new FusionException("max context must be at least 1, got " + tokens);
            }
            this.maxContext = OptionalInt.of(tokens);
            return this;
        }

        /** Temperature scaling of the model's distribution, {@code > 0}; 1 (the default) is the raw model. */
        public Builder calibrationTemperature(double temperature) {
            checkTemperature(temperature);
            this.calibrationTemperature = temperature;
            return this;
        }

        /**
         * MiB of keys and values kept for recently opened prompts ({@link #DEFAULT_PREFIX_CACHE_MB} by default), 0 for
         * none.
         */
        public Builder prefixCacheMb(int mb) {
            checkPrefixCache(mb);
            this.prefixCacheMb = mb;
            return this;
        }

        /**
         * The most rows one forward batches across concurrent calls ({@link #DEFAULT_BATCH_ROWS} by default); 1 runs
         * every call alone.
         */
        public Builder batchRows(int rows) {
            checkBatchRows(rows);
            this.batchRows = rows;
            return this;
        }

        public DjlModelOptions build() {
            return new DjlModelOptions(name, device, dtype, maxContext, calibrationTemperature, prefixCacheMb, batchRows);
        }
    }
}
