package dev.coolfusion.cli;

/** PyTorch thread defaults for the small demo models, unless the user set them (-Dai.djl.pytorch.num_threads=N). */
final class DjlThreads {
    private DjlThreads() {}

    static void configure() {
        if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
            System.setProperty("ai.djl.pytorch.num_threads", "1");
        }
        if (System.getProperty("ai.djl.pytorch.num_interop_threads") == null) {
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
    }
}
