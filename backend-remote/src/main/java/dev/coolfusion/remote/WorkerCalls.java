package dev.coolfusion.remote;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.MethodDescriptor;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Monitoring: how many calls this JVM's {@code remote} sources made to workers, in all and by method ({@code NextText},
 * {@code Score}, ...). Every channel the {@code remote} provider opens counts through it, so a fusion's calls per step
 * can be measured against workers on other machines too ({@code cool-fusion bench-remote}).
 */
public final class WorkerCalls {
    private static final LongAdder TOTAL = new LongAdder();
    private static final Map<String, LongAdder> BY_METHOD = new ConcurrentHashMap<>();
    static final ClientInterceptor COUNTER = new ClientInterceptor() {
        @Override
        public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
            TOTAL.increment();
            BY_METHOD.computeIfAbsent(method.getBareMethodName(), k -> new LongAdder()).increment();
            return next.newCall(method, options);
        }
    };

    private WorkerCalls() {}

    /** Calls started so far (answered or failed). */
    public static long count() {
        return TOTAL.sum();
    }

    /** {@link #count()} by method name. */
    public static Map<String, Long> byMethod() {
        Map<String, Long> out = new TreeMap<>();
        BY_METHOD.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }
}
