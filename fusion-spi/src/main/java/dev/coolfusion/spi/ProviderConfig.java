package dev.coolfusion.spi;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The plain key-value configuration a provider creates its component from.
 *
 * @param provider the provider name, used in error messages
 * @param values   option values as strings
 */
public record ProviderConfig(String provider, Map<String, String> values) {
    public ProviderConfig {
        requireNonNull(provider, "provider is null");
        values = Map.copyOf(requireNonNull(values, "values is null"));
    }

    public static ProviderConfig of(String provider, Map<String, String> values) {
        return new ProviderConfig(provider, values);
    }

    /** Fails, naming them and the known ones, if any option is not in {@code known}: a typo must not pass silently. */
    public ProviderConfig requireOnly(Set<String> known) {
        requireNonNull(known, "known is null");
        Set<String> unknown = new TreeSet<>(values.keySet());
        unknown.removeAll(known);
        if (!unknown.isEmpty()) {
            throw new FusionException("provider '" + provider + "' does not know option(s) " + unknown + "; known options: "
                    + new TreeSet<>(known));
        }
        return this;
    }

    public Optional<String> get(String key) {
        return Optional.ofNullable(values.get(requireNonNull(key, "key is null")));
    }

    /** The value of a required option, or an error naming the option and the provider. */
    public String require(String key) {
        String value = values.get(requireNonNull(key, "key is null"));
        if (value == null || value.isBlank()) {
            throw new FusionException("provider '" + provider + "' needs option '" + key + "'; given options: "
                    + new TreeMap<>(values).keySet());
        }
        return value;
    }

    public String get(String key, String defaultValue) {
        return values.getOrDefault(requireNonNull(key, "key is null"), defaultValue);
    }

    public int getInt(String key, int defaultValue) {
        String value = values.get(requireNonNull(key, "key is null"));
        if (value == null) {
            return defaultValue;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new FusionException("provider '" + provider + "' option '" + key + "' must be an integer, got '" + value + "'");
        }
    }

    /** A whole number of seconds of at least 1 (a deadline), or {@code defaultSeconds} when absent. */
    public Duration getSeconds(String key, int defaultSeconds) {
        int value = getInt(key, defaultSeconds);
        if (value < 1) {
            throw new FusionException("provider '" + provider + "' option '" + key + "' must be at least 1 (seconds), got "
                    + value);
        }
        return Duration.ofSeconds(value);
    }

    public double getDouble(String key, double defaultValue) {
        String value = values.get(requireNonNull(key, "key is null"));
        if (value == null) {
            return defaultValue;
        }
        try {
            return Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new FusionException("provider '" + provider + "' option '" + key + "' must be a number, got '" + value + "'");
        }
    }
}
