package dev.coolfusion.spi;

/** ServiceLoader entry point for model backends. */
public interface SourceModelProvider extends Provider<SourceModel> {}
