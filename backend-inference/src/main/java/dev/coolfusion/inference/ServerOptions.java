package dev.coolfusion.inference;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.TextCodec;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/** The options every inference-server provider reads the same way, each checked with a message naming it. */
final class ServerOptions {
    /** Probe texts a local tokenizer must encode exactly as the server does. */
    static final List<String> PROBES = List.of("Question: Mia has 16 apples. She buys 7 more.\nAnswer: 16 + 7 = 23.",
            " The answer is 1,234.56!", " naïve café – 東京 😀");

    /** The options of a provider for one model on a server that takes token ids, with a local tokenizer. */
    static final Set<String> TOKEN_SERVER_OPTIONS = Set.of("url", "tokenizer", "model", "name", "api-key",
            "timeout-seconds", "chunk-tokens");

    private ServerOptions() {}

    /** What a provider of {@link #TOKEN_SERVER_OPTIONS} reads first: the server, its client, tokenizer and chunk size. */
    record TokenServer(URI uri, JsonHttp api, String tokenizer, int chunkTokens) {}

    /**
     * The {@code url}, {@code tokenizer} and {@code chunk-tokens} options (default {@code defaultChunkTokens}) and the
     * client of the server, checked in that order after the option names ({@link #TOKEN_SERVER_OPTIONS} only).
     */
    static TokenServer tokenServer(ProviderConfig config, int defaultChunkTokens, String kind, String howToStart) {
        requireNonNull(config, "config is null");
        config.requireOnly(TOKEN_SERVER_OPTIONS);
        URI uri = httpUrl(config);
        String tokenizer = config.require("tokenizer");
        int chunkTokens = chunkTokens(config, defaultChunkTokens);
        return new TokenServer(uri, connect(config, uri, kind, howToStart), tokenizer, chunkTokens);
    }

    /** The client of the server at {@code uri}: {@code timeout-seconds} (default 120) and {@code api-key} from config. */
    static JsonHttp connect(ProviderConfig config, URI uri, String kind, String howToStart) {
        return new JsonHttp(uri, config.getSeconds("timeout-seconds", 120), config.get("api-key"), kind, howToStart);
    }

    /** The local tokenizer at {@code tokenizer}, once {@code check} accepts it; closed if {@code check} throws. */
    static TextCodec checkedTokenizer(String tokenizer, Consumer<TextCodec> check) {
        HfTextCodec codec = HfTextCodec.load(Path.of(tokenizer));
        try {
            check.accept(codec);
        } catch (RuntimeException e) {
            codec.close();
            throw e;
        }
        return codec;
    }

    /** The {@code url} option as an http(s) URI without a trailing slash, or an error naming the option. */
    static URI httpUrl(ProviderConfig config) {
        String url = config.require("url").trim();
        URI uri;
        try {
            uri = URI.create(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
        } catch (IllegalArgumentException e) {
            throw new FusionException("provider '" + config.provider() + "' option 'url' is not a URL: '" + url + "'", e);
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null) {
            throw new FusionException("provider '" + config.provider() + "' option 'url' must look like http://host:port,"
                    + " got '" + url + "'");
        }
        return uri;
    }

    /**
     * The {@code chunk-tokens} option: the tokens the first generation request of a step asks for (at least 1; 1 leaves
     * T1 to the fusion loop, one request per token), or {@code otherwise}.
     */
    static int chunkTokens(ProviderConfig config, int otherwise) {
        int value = config.getInt("chunk-tokens", otherwise);
        if (value < 1) {
            throw new FusionException("provider '" + config.provider() + "' option 'chunk-tokens' must be at least 1"
                    + " (1: one request per token), got " + value);
        }
        return value;
    }

    /**
     * The served model the {@code model} option names, or the only one served; an error naming {@code server} and what
     * it serves otherwise.
     */
    static String chooseModel(ProviderConfig config, List<String> served, String server) {
        Optional<String> wanted = config.get("model");
        if (wanted.isPresent()) {
            if (!served.contains(wanted.get())) {
                throw new FusionException(server + " does not serve '" + wanted.get() + "'; it serves " + served);
            }
            return wanted.get();
        }
        if (served.size() != 1) {
            throw new FusionException(server + " serves " + served + "; choose one with the 'model' option");
        }
        return served.get(0);
    }
}
