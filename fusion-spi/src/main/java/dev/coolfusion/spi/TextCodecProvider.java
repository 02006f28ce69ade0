package dev.coolfusion.spi;

/** ServiceLoader entry point for tokenizers. */
public interface TextCodecProvider extends Provider<TextCodec> {}
