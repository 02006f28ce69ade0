package dev.coolfusion.djl.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Arrays;

/** The few direct PyTorch calls that the transformer and its KV cache share: slices, in-place writes, ownership. */
final class Tensors {
    private Tensors() {}

    /** A view of {@code a[min[0]:max[0], min[1]:max[1], ...]} (step 1), in the current scope. */
    static PtNDArray slice(NDArray a, long[] min, long[] max) {
        long[] step = new long[min.length];
        Arrays.fill(step, 1);
        PtNDArray p = pt(a);
        return JniUtils.index(p, min, max, step, (PtNDManager) p.getManager());
    }

    /** {@code to[min[0]:max[0], ...] = from} (step 1), in place. */
    static void write(NDArray to, NDArray from, long[] min, long[] max) {
        long[] step = new long[min.length];
        Arrays.fill(step, 1);
        JniUtils.indexSet(pt(to), pt(from), min, max, step);
    }

    /** Takes {@code a} out of the current {@link NDScope} and hands it to {@code target}. */
    static NDArray keep(NDArray a, NDManager target) {
        NDScope.unregister(a);
        a.attach(target);
        return a;
    }

    private static PtNDArray pt(NDArray a) {
        return (PtNDArray) a;
    }
}
