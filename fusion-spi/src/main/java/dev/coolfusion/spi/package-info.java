/**
 * The cool-fusion service provider interface: the paper's per-worker API (Table 1) as {@link
 * dev.coolfusion.spi.SourceModel} and {@link dev.coolfusion.spi.TextCodec}, the {@link
 * dev.coolfusion.spi.RerankMetric} that picks a winning segment, and the ServiceLoader providers that create them.
 *
 * <p>This package has no dependencies beyond the JDK. Handles are opaque and only token ids, text and numbers cross
 * it, so every interface can be implemented over a network.
 */
package dev.coolfusion.spi;
