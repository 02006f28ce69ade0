package dev.coolfusion.core;

/** Called on the generating thread after each fused step, e.g. to stream {@link StepTrace#emitted()} text. */
@FunctionalInterface
public interface StepListener {
    StepListener NONE = step -> {};

    void onStep(StepTrace step);
}
