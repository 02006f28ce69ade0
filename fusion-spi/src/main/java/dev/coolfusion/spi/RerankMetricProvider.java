package dev.coolfusion.spi;

/** ServiceLoader entry point for rerank metrics. */
public interface RerankMetricProvider extends Provider<RerankMetric> {}
