package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.remote.proto.WorkerGrpc;
import dev.coolfusion.spi.FusionException;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * One model on a worker, as a client calls it: every call has a deadline ({@code timeout-seconds}), and a failed call
 * is a {@link FusionException} that names the source, the worker's address, the model and the call.
 */
final class ServedModel implements AutoCloseable {
    private final ManagedChannel channel;
    private final WorkerGrpc.WorkerBlockingStub stub;
    private final String target;
    private final String name;
    private final Duration timeout;
    private volatile String source;

    ServedModel(ManagedChannel channel, WorkerGrpc.WorkerBlockingStub stub, String target, String name, Duration timeout) {
        this.channel = requireNonNull(channel, "channel is null");
        this.stub = requireNonNull(stub, "stub is null");
        this.target = requireNonNull(target, "target is null");
        this.name = requireNonNull(name, "name is null");
        this.timeout = requireNonNull(timeout, "timeout is null");
        this.source = name;
    }

    /** Names the source in error messages (its name in the fusion). */
    void source(String source) {
        this.source = requireNonNull(source, "source is null");
    }

    /** Runs one call with its deadline; a failure becomes a {@link FusionException} naming where and what. */
    <T> T call(String operation, Function<WorkerGrpc.WorkerBlockingStub, T> call) {
        try {
            return call.apply(stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS));
        } catch (StatusRuntimeException e) {
            throw failure(operation, e);
        }
    }

    /** Runs one call with its deadline, leaving a failure's status to the caller. */
    <T> T attempt(Function<WorkerGrpc.WorkerBlockingStub, T> call) {
        return call.apply(stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS));
    }

    /** The message for a failed call, by its status. */
    FusionException failure(String operation, StatusRuntimeException e) {
        Status status = e.getStatus();
        String what = name.isEmpty() ? operation : operation + " on model '" + name + "' for source '" + source + "'";
        String detail = status.getDescription() == null ? status.getCode().toString() : status.getDescription();
        String message = switch (status.getCode()) {
            case DEADLINE_EXCEEDED -> "worker " + target + " did not answer " + what + " within " + timeout.toSeconds()
                    + " s (the remote provider's timeout-seconds): it is stopped, overloaded or unreachable";
            case UNAVAILABLE -> "cannot reach the worker at " + target + " for " + what + " (" + detail
                    + "): start it (cool-fusion worker) or fix 'url'";
            case CANCELLED -> what + " at worker " + target + " was cancelled (" + detail + ")";
            case UNIMPLEMENTED -> "worker " + target + " does not implement " + what + " (" + detail
                    + "); is 'url' a cool-fusion worker of the same protocol version?";
            default -> "worker " + target + " refused " + what + ": " + status.getCode() + ": " + detail;
        };
        return new FusionException(message, e);
    }

    String name() {
        return name;
    }

    String target() {
        return target;
    }

    String base() {
        return target;
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
