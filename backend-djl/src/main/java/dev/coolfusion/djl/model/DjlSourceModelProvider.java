package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import java.nio.file.Path;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * The {@code djl} backend: a local Hugging Face folder on DJL's PyTorch engine. Options: {@code path} (required),
 * {@code device} ({@code cpu}, {@code gpu}, {@code gpu:N}), {@code dtype} ({@code float32}, {@code bfloat16},
 * {@code float16}), {@code max-context} (tokens), {@code name} and {@code calibration-temperature} (temperature scaling of
 * the model's distribution, see {@link DjlModelOptions#calibrationTemperature()}), {@code prefix-cache-mb} and {@code
 * batch-rows} (see {@link DjlModelOptions}).
 */
public final class DjlSourceModelProvider implements SourceModelProvider {
    static final Set<String> OPTIONS = Set.of("path", "device", "dtype", "max-context", "name", "calibration-temperature",
            "prefix-cache-mb", "batch-rows");

    @Override
    public String name() {
        return "djl";
    }

    @Override
    public String description() {
        return "djl: local Hugging Face safetensors model (Llama, Mistral, Qwen 2/3, Phi-3, GLM-4, Gemma 2/3) on DJL"
                + " PyTorch; options path, device, dtype, max-context, name, calibration-temperature, prefix-cache-mb,"
                + " batch-rows";
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        requireNonNull(config, "config is null");
        config.requireOnly(OPTIONS);
        Path path = Path.of(config.require("path"));
        DjlModelOptions.Builder options = DjlModelOptions.builder();
        double temperature = config.getDouble("calibration-temperature", 1);
        try {
            config.get("name").ifPresent(options::name);
            config.get("device").ifPresent(options::device);
            config.get("dtype").ifPresent(options::dtype);
            options.calibrationTemperature(temperature);
        } catch (FusionException e) {
            throw new FusionException("provider '" + config.provider() + "': " + e.getMessage(), e);
        }
        if (config.get("max-context").isPresent()) {
            int max = config.getInt("max-context", 0);
            if (max < 1) {
                throw new FusionException("provider '" + config.provider() + "' option 'max-context' must be at least 1, got "
                        + max);
            }
            options.maxContext(max);
        }
        wholeNumber(config, "prefix-cache-mb", options::prefixCacheMb);
        wholeNumber(config, "batch-rows", options::batchRows);
        return DjlSourceModel.load(path, options.build());
    }

    /** Sets an integer option if present; a value that is no integer or is refused names the provider and option. */
    private static void wholeNumber(ProviderConfig config, String option, IntConsumer set) {
        if (config.get(option).isEmpty()) {
            return;
        }
        int value = config.getInt(option, 0);
        try {
            set.accept(value);
        } catch (FusionException e) {
            throw new FusionException("provider '" + config.provider() + "': " + e.getMessage(), e);
        }
    }
}
