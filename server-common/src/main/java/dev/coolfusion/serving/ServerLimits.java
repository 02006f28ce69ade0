package dev.coolfusion.serving;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;

/**
 * How much one request, one client and all clients together may ask of a model server, so that no request can exhaust
 * the memory of the process that serves the models. Every server of the project takes this one value: the Table-1
 * worker ({@code TableOneServer} in {@code backend-remote}, {@code cool-fusion worker}) and the OpenAI-compatible
 * server of the fused model ({@code FusionServer} in {@code fusion-server}, {@code cool-fusion serve}). A server
 * checks every limit that applies to it before it reads a body past the size limit and before it asks a model for
 * anything, and refuses what is over with a 4xx answer that names the limit, its value and the option that raises it
 * ({@link #refusal}).
 *
 * <p>The {@linkplain #DEFAULTS defaults} fit the bundled demo models and real 8B models alike: no request of the
 * fusion loop comes near them (a step scores a handful of short candidates), and the largest request they let through
 * is one a server with a few GiB to spare can run.
 *
 * @param maxBodyBytes           the largest request body, in bytes; a larger one is refused by its Content-Length
 *                               before it is read, and a chunked one as soon as it passes the limit (HTTP 413)
 * @param maxCandidates          the most candidates one {@code score} request may carry (HTTP 413)
 * @param maxTokensPerCandidate  the most tokens one {@code score} candidate (or the {@code tokens} of one
 *                               {@code nll-at-temperatures}) may have (HTTP 413)
 * @param maxTokensPerRequest    the most tokens one request may carry: {@code open}'s prompt, {@code decode}'s and
 *                               {@code is-special}'s ids, and for {@code score} the batch a batched backend runs, the
 *                               number of candidates times the longest one (HTTP 413)
 * @param maxLiveStates          the most states all clients together may hold on the server, over all its models; a
 *                               request that would issue more is refused before the model runs (HTTP 429)
 * @param maxLiveStatesPerClient the most states one client may hold: per API key when the server has one, else per
 *                               remote address (HTTP 429)
 */
public record ServerLimits(long maxBodyBytes, int maxCandidates, int maxTokensPerCandidate, int maxTokensPerRequest,
        int maxLiveStates, int maxLiveStatesPerClient) {

    /** The largest body that fits one Java array: the most {@link #maxBodyBytes} can be. */
    public static final long MAX_BODY_BYTES = Integer.MAX_VALUE - 8;

    /**
     * 8 MiB bodies, 256 candidates, 4,096 tokens per candidate, 8,192 tokens per request, 4,096 live states, 1,024 per
     * client. The batch of a {@code score} costs the DJL backend memory in proportion to candidates times the longest
     * (its logits, {@code vocabulary x 4} bytes a token, and its attention): on a bundled demo model 8,192 such tokens
     * peak at about 1 to 1.5 GB, 32,768 at 3 to 5 GB; on an 8B model (a 128k vocabulary) the logits alone are about
     * 0.5 GB per thousand tokens.
     */
    public static final ServerLimits DEFAULTS = new ServerLimits(8L << 20, 256, 4096, 8192, 4096, 1024);

    /** One of the limits: what it bounds, and how to raise it on the command line and in code. */
    public enum Limit {
        BODY_BYTES("maxBodyBytes", "--max-body-bytes", "bytes per request body"),
        CANDIDATES("maxCandidates", "--max-candidates", "candidates per score request"),
        TOKENS_PER_CANDIDATE("maxTokensPerCandidate", "--max-tokens-per-candidate", "tokens per candidate"),
        TOKENS_PER_REQUEST("maxTokensPerRequest", "--max-tokens-per-request", "tokens per request"),
        LIVE_STATES("maxLiveStates", "--max-live-states", "live states, all clients and models together"),
        LIVE_STATES_PER_CLIENT("maxLiveStatesPerClient", "--max-live-states-per-client", "live states per client");

        private final String field;
        private final String option;
        private final String unit;

        Limit(String field, String option, String unit) {
            this.field = field;
            this.option = option;
            this.unit = unit;
        }

        /** The record component, e.g. {@code maxCandidates}. */
        public String field() {
            return field;
        }

        /** The command-line option that sets it ({@code cool-fusion worker}, {@code serve}), e.g. {@code --max-candidates}. */
        public String option() {
            return option;
        }

        /** What one unit of it is, e.g. "candidates per score request". */
        public String unit() {
            return unit;
        }

        /** The wither that sets it in code, e.g. {@code withMaxCandidates}. */
        public String wither() {
            return "with" + Character.toUpperCase(field.charAt(0)) + field.substring(1);
        }
    }

    public ServerLimits {
        if (maxBodyBytes < 1 || maxBodyBytes > MAX_BODY_BYTES) {
            throw new FusionException(Limit.BODY_BYTES.field + " must be in 1.." + MAX_BODY_BYTES + " (" + Limit.BODY_BYTES.option
                    + "), got " + maxBodyBytes);
        }
        atLeastOne(Limit.CANDIDATES, maxCandidates);
        atLeastOne(Limit.TOKENS_PER_CANDIDATE, maxTokensPerCandidate);
        atLeastOne(Limit.TOKENS_PER_REQUEST, maxTokensPerRequest);
        atLeastOne(Limit.LIVE_STATES, maxLiveStates);
        atLeastOne(Limit.LIVE_STATES_PER_CLIENT, maxLiveStatesPerClient);
    }

    private static void atLeastOne(Limit limit, int value) {
        if (value < 1) {
            throw new FusionException(limit.field + " must be at least 1 (" + limit.option + "), got " + value);
        }
    }

    /** The {@linkplain #DEFAULTS defaults}, to change with the withers. */
    public static ServerLimits defaults() {
        return DEFAULTS;
    }

    public ServerLimits withMaxBodyBytes(long bytes) {
        return new ServerLimits(bytes, maxCandidates, maxTokensPerCandidate, maxTokensPerRequest, maxLiveStates,
                maxLiveStatesPerClient);
    }

    public ServerLimits withMaxCandidates(int candidates) {
        return new ServerLimits(maxBodyBytes, candidates, maxTokensPerCandidate, maxTokensPerRequest, maxLiveStates,
                maxLiveStatesPerClient);
    }

    public ServerLimits withMaxTokensPerCandidate(int tokens) {
        return new ServerLimits(maxBodyBytes, maxCandidates, tokens, maxTokensPerRequest, maxLiveStates,
                maxLiveStatesPerClient);
    }

    public ServerLimits withMaxTokensPerRequest(int tokens) {
        return new ServerLimits(maxBodyBytes, maxCandidates, maxTokensPerCandidate, tokens, maxLiveStates,
                maxLiveStatesPerClient);
    }

    public ServerLimits withMaxLiveStates(int states) {
        return new ServerLimits(maxBodyBytes, maxCandidates, maxTokensPerCandidate, maxTokensPerRequest, states,
                maxLiveStatesPerClient);
    }

    public ServerLimits withMaxLiveStatesPerClient(int states) {
        return new ServerLimits(maxBodyBytes, maxCandidates, maxTokensPerCandidate, maxTokensPerRequest, maxLiveStates,
                states);
    }

    /** The value of {@code limit}. */
    public long value(Limit limit) {
        requireNonNull(limit, "limit is null");
        return switch (limit) {
            case BODY_BYTES -> maxBodyBytes;
            case CANDIDATES -> maxCandidates;
            case TOKENS_PER_CANDIDATE -> maxTokensPerCandidate;
            case TOKENS_PER_REQUEST -> maxTokensPerRequest;
            case LIVE_STATES -> maxLiveStates;
            case LIVE_STATES_PER_CLIENT -> maxLiveStatesPerClient;
        };
    }

    /**
     * The message that refuses a request over {@code limit}: {@code what} (what the request asked for, e.g. "score
     * request has 300 candidates"), the limit with its value, what to do ({@code advice}, may be empty) and the option
     * that raises it.
     */
    public String refusal(Limit limit, String what, String advice) {
        requireNonNull(what, "what is null");
        requireNonNull(advice, "advice is null");
        return what + ", over this server's limit of " + value(limit) + " " + limit.unit + " (" + limit.field + ")"
                + (advice.isEmpty() ? "" : "; " + advice) + "; the server's operator can raise it with the server's "
                + limit.option + " option (ServerLimits." + limit.wither() + " in code)";
    }

    @Override
    public String toString() {
        return "body " + maxBodyBytes + " bytes, " + maxCandidates + " candidates, " + maxTokensPerCandidate
                + " tokens per candidate, " + maxTokensPerRequest + " tokens per request, " + maxLiveStates
                + " live states, " + maxLiveStatesPerClient + " per client";
    }
}
