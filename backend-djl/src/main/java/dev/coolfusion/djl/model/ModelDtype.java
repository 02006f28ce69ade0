package dev.coolfusion.djl.model;

import static java.util.Objects.requireNonNull;

import ai.djl.ndarray.types.DataType;
import dev.coolfusion.spi.FusionException;
import java.util.Arrays;
import java.util.Locale;

/** The floating-point type a model's weights and activations use on its device. */
public enum ModelDtype {
    FLOAT32("float32", DataType.FLOAT32),
    BFLOAT16("bfloat16", DataType.BFLOAT16),
    FLOAT16("float16", DataType.FLOAT16);

    private final String label;
    private final DataType dataType;

    ModelDtype(String label, DataType dataType) {
        this.label = label;
        this.dataType = dataType;
    }

    /** The name users give, e.g. {@code bfloat16}. */
    public String label() {
        return label;
    }

    DataType dataType() {
        return dataType;
    }

    /** Parses {@code float32}, {@code bfloat16} or {@code float16} (case-insensitive). */
    public static ModelDtype parse(String text) {
        requireNonNull(text, "text is null");
        String key = text.trim().toLowerCase(Locale.ROOT);
        for (ModelDtype d : values()) {
            if (d.label.equals(key)) {
                return d;
            }
        }
        throw new FusionException("dtype '" + text + "' is not supported; supported values: "
                + Arrays.stream(values()).map(ModelDtype::label).toList());
    }

    @Override
    public String toString() {
        return label;
    }
}
