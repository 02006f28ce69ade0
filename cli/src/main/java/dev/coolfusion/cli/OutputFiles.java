package dev.coolfusion.cli;

import dev.coolfusion.spi.FusionException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checks, before a command does its work, that the files it will write can be written. */
final class OutputFiles {
    private OutputFiles() {}

    /**
     * Fails, naming the option, if {@code file} is a folder, an existing file that cannot be written, or lies in a
     * folder that cannot be made or written; missing parent folders are fine (the command creates them).
     */
    static void check(String option, Path file) {
        if (file == null) {
            return;
        }
        Path absolute = file.toAbsolutePath().normalize();
        if (Files.isDirectory(absolute)) {
            throw new FusionException(option + " " + file + " is a folder; give a file name, e.g. " + option + " "
                    + file.resolve(example(option)));
        }
        if (Files.exists(absolute) && !Files.isWritable(absolute)) {
            throw new FusionException(option + " " + file + " exists and cannot be written");
        }
        Path folder = absolute.getParent();
        while (folder != null && !Files.exists(folder)) {
            folder = folder.getParent();
        }
        if (folder != null && !Files.isDirectory(folder)) {
            throw new FusionException(option + " " + file + ": " + folder + " is a file, not a folder");
        }
        if (folder != null && !Files.isWritable(folder)) {
            throw new FusionException(option + " " + file + ": the folder " + folder + " cannot be written");
        }
    }

    /** Fails if two options name the same file. */
    static void distinct(String option, Path file, String otherOption, Path other) {
        if (file != null && other != null && file.toAbsolutePath().normalize().equals(other.toAbsolutePath().normalize())) {
            throw new FusionException(option + " and " + otherOption + " are the same file (" + file + "); give two names");
        }
    }

    private static String example(String option) {
        return switch (option) {
            case "--chart" -> "results.png";
            case "--out" -> "results.json";
            default -> "out";
        };
    }
}
