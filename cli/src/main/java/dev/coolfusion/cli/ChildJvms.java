package dev.coolfusion.cli;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs commands of this command line in child JVMs (same java, class path and JVM options), a few at a time, with
 * their output interleaved line by line under a {@code [name]} prefix. The first child that fails stops the others;
 * an interrupted or killed parent takes its children with it, so nothing is left running.
 */
final class ChildJvms {
    private ChildJvms() {}

    static void run(List<String> names, List<List<String>> commands, int parallel, PrintWriter log)
            throws InterruptedException {
        requireNonNull(names, "names is null");
        requireNonNull(commands, "commands is null");
        requireNonNull(log, "log is null");
        if (names.size() != commands.size()) {
            throw new IllegalArgumentException("names and commands differ in size");
        }
        Set<Process> live = ConcurrentHashMap.newKeySet();
        AtomicReference<String> failure = new AtomicReference<>();
        Thread reaper = new Thread(() -> destroy(live), "child-jvm-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
        ExecutorService pool = Executors.newFixedThreadPool(parallel);
        try {
            List<Future<?>> tasks = new ArrayList<>();
            for (int i = 0; i < commands.size(); i++) {
                String name = names.get(i);
                List<String> command = jvmCommand(commands.get(i));
                tasks.add(pool.submit(() -> {
                    if (failure.get() != null) {
                        return null;
                    }
                    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
                    live.add(p);
                    try (BufferedReader r = new BufferedReader(
                            new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                        for (String line; (line = r.readLine()) != null; ) {
                            synchronized (log) {
                                log.println("[" + name + "] " + line);
                                log.flush();
                            }
                        }
                        int code = p.waitFor();
                        if (code != 0 && failure.compareAndSet(null, "[" + name + "] (exit code " + code + ")")) {
                            destroy(live);
                        }
                    } finally {
                        live.remove(p);
                    }
                    return null;
                }));
            }
            for (Future<?> task : tasks) {
                try {
                    task.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    failure.compareAndSet(null, "a child JVM could not be run: " + e.getCause());
                    destroy(live);
                }
            }
        } catch (InterruptedException e) {
            destroy(live);
            throw e;
        } finally {
            pool.shutdownNow();
            destroy(live);
            try {
                Runtime.getRuntime().removeShutdownHook(reaper);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
        if (failure.get() != null) {
            throw new FusionException(failure.get() + " failed; its output is above, each line prefixed with its name");
        }
    }

    private static void destroy(Set<Process> live) {
        for (Process p : live) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    /** The java command that runs {@code args} through {@link CoolFusionCli} as this JVM was started. */
    static List<String> jvmCommand(List<String> args) {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> command = new ArrayList<>();
        command.add(java);
        for (String option : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            // Debuggers and agents belong to this JVM only (a second JVM cannot bind the same debug port).
            if (!option.startsWith("-agentlib:") && !option.startsWith("-javaagent:")
                    && !option.startsWith("-Xrunjdwp")) {
                command.add(option);
            }
        }
        // DJL settings made as system properties at run time (by a test harness, say) are not in the options above.
        for (String key : System.getProperties().stringPropertyNames()) {
            if (key.startsWith("ai.djl.") && command.stream().noneMatch(o -> o.startsWith("-D" + key + "="))) {
                command.add("-D" + key + "=" + System.getProperty(key));
            }
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(CoolFusionCli.class.getName());
        command.addAll(args);
        return command;
    }
}
