package dev.coolfusion.cli;

import dev.coolfusion.djl.model.DjlModelOptions;
import picocli.CommandLine.Option;

/** The {@code --device} and {@code --dtype} options of commands that load one local model. */
final class DjlModelOptionsMixin {
    @Option(names = "--device", defaultValue = "cpu", description = "cpu, gpu or gpu:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", defaultValue = "float32", description = "float32 or float16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--prefix-cache-mb", paramLabel = "<MiB>", defaultValue = "" + DjlModelOptions.DEFAULT_PREFIX_CACHE_MB,
            description = "Keys and values kept for recently opened prompts, so that a prompt starting with one of them"
                    + " prefills only the rest; 0: off (default: ${DEFAULT-VALUE}).")
    int prefixCacheMb;

    DjlModelOptions.Builder builder() {
        return DjlModelOptions.builder().device(device).dtype(dtype).prefixCacheMb(prefixCacheMb);
    }
}
