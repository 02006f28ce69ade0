package dev.coolfusion.spi;

/**
 * A named factory found through {@link java.util.ServiceLoader}. A third party adds a backend, codec or metric by
 * implementing one of the sub-interfaces and listing the class in {@code META-INF/services}.
 *
 * @param <T> what the provider creates
 */
public interface Provider<T> {

    /** The name users select this provider by; lower-case words joined by '-'. */
    String name();

    /** One line for listings and error messages. */
    default String description() {
        return name();
    }

    /** Creates a component; a missing or bad option gets a {@link FusionException} naming it. */
    T create(ProviderConfig config);
}
