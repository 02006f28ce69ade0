package dev.coolfusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code cool-fusion gpu-check}: its CPU part on one fixture, and what it says where there is no GPU. */
class GpuCheckCommandTest {
    private static Path fixtures() {
        return ScoreCommandTest.fixture("hf-tiny", "mistral").getParent().getParent();
    }

    @Test
    void theCpuAgainstItselfIsWithinTolerances() {
        Cli.Result r = Cli.run("gpu-check", "--device", "cpu", "--fixtures", fixtures().toString(), "--only",
                "mistral-sliding-window", "--shape", "none");
        assertEquals(0, r.exitCode(), r.out() + r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.matches(
                "hf-tiny2/mistral-sliding-window +float32 +0\\.000e\\+00 +0\\.000e\\+00 +0\\.000e\\+00  ok")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches(
                "hf-tiny2/mistral-sliding-window +float16 +[0-9.]+e-0[3-9] +[0-9.]+e-0[3-9] +[0-9.]+e-0[3-9]  ok")), r.out());
        assertTrue(r.out().endsWith("gpu-check: all within tolerance\n"), r.out());
    }

    @Test
    void timesTheRandomShapeOnEachDtype() {
        Cli.Result r = Cli.run("gpu-check", "--device", "cpu", "--fixtures", fixtures().toString(), "--only", "llama",
                "--dtypes", "float32", "--shape", "small");
        assertEquals(0, r.exitCode(), r.out() + r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("cpu +float32 +[0-9]+ +[0-9.]+ +[0-9.]+ +1\\.00x")), r.out());
        assertTrue(r.err().contains("writing a random small Llama"), r.err());
    }

    @Test
    void halfPrecisionBeyondAZeroToleranceIsAMismatch() {
        Cli.Result r = Cli.run("gpu-check", "--device", "cpu", "--fixtures", fixtures().toString(), "--only", "llama",
                "--dtypes", "float16", "--float16-tolerance", "0", "--shape", "none");
        assertEquals(GpuCheckCommand.MISMATCH, r.exitCode(), r.out() + r.err());
        assertTrue(r.out().contains("hf-tiny/llama") && r.out().contains("MISMATCH (over 0.0)"), r.out());
        assertTrue(r.out().endsWith("gpu-check: MISMATCH\n"), r.out());
    }

    @Test
    void withoutAGpuItSaysSoAndExitsWithItsOwnCode() {
        assumeTrue(Engine.getEngine("PyTorch").getGpuCount() == 0, "a GPU is visible");
        Cli.Result r = Cli.run("gpu-check", "--fixtures", fixtures().toString());
        assertEquals(GpuCheckCommand.NO_GPU, r.exitCode(), r.out() + r.err());
        assertTrue(r.err().startsWith("gpu-check: no GPU: the PyTorch engine (libtorch "), r.err());
        assertTrue(r.err().contains("sees 0 GPU(s), device gpu was asked for") && r.err().contains("scripts/gpu-check.sh"),
                r.err());
        assertTrue(r.out().isEmpty(), r.out());
    }

    @Test
    void badOptionsAreRefused() {
        Cli.Result bf = Cli.run("gpu-check", "--device", "cpu", "--dtypes", "bfloat16");
        assertEquals(1, bf.exitCode());
        assertTrue(bf.err().contains("--dtypes bfloat16"), bf.err());
        Cli.Result shape = Cli.run("gpu-check", "--device", "cpu", "--shape", "huge");
        assertEquals(1, shape.exitCode());
        assertTrue(shape.err().contains("--shape takes small, medium or none, got 'huge'"), shape.err());
        Cli.Result none = Cli.run("gpu-check", "--device", "cpu", "--fixtures", "/no/such/dir");
        assertEquals(1, none.exitCode());
        assertTrue(none.err().contains("no fixtures folder at /no/such/dir"), none.err());
    }
}
