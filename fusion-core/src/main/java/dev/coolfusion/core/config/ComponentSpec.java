package dev.coolfusion.core.config;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * A component chosen by provider name, with its options, e.g. {@code djl} with {@code path=/models/llama}.
 */
public record ComponentSpec(String provider, Map<String, String> options) {
    public ComponentSpec {
        requireNonNull(provider, "provider is null");
        if (provider.isBlank()) {
            throw new IllegalArgumentException("provider name is blank");
        }
        options = Map.copyOf(requireNonNull(options, "options is null"));
    }

    public static ComponentSpec of(String provider) {
        return new ComponentSpec(provider, Map.of());
    }

    public static ComponentSpec of(String provider, Map<String, String> options) {
        return new ComponentSpec(provider, options);
    }
}
