package dev.coolfusion.cli;

import dev.coolfusion.core.config.Plugins;
import dev.coolfusion.spi.Provider;
import java.io.PrintWriter;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Lists the model backends, tokenizers and metrics found on the class path. */
@Command(name = "providers", description = "List the model backends, tokenizers and rerank metrics on the class path.")
final class ProvidersCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        Plugins plugins = Plugins.discover();
        PrintWriter out = spec.commandLine().getOut();
        print(out, "model backends", plugins.modelProviders());
        print(out, "tokenizers", plugins.codecProviders());
        print(out, "rerank metrics", plugins.metricProviders());
        out.flush();
        return 0;
    }

    private static void print(PrintWriter out, String title, Map<String, ? extends Provider<?>> providers) {
        out.println(title + ":");
        if (providers.isEmpty()) {
            out.println("  (none)");
        }
        providers.forEach((name, p) -> out.printf("  %-16s %s%n", name, p.description()));
    }
}
