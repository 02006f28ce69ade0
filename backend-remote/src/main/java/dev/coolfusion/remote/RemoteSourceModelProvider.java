package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import dev.coolfusion.spi.TextCodec;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The {@code remote} backend: a model served by a {@link TableOneServer} ({@code cool-fusion worker}). Options:
 * {@code url} (required, e.g. {@code http://127.0.0.1:8765}), {@code model} (the served name; may be left out when
 * the server serves one model), {@code name} (the name in this fusion; default the served name),
 * {@code timeout-seconds} (per request, default 60), {@code api-key} (when the server was started with one) and
 * {@code tokenizer}: a local copy of the served model's
 * tokenizer (its folder or {@code tokenizer.json}, read by the {@code hf-tokenizer} codec provider), so that the
 * fusion loop's word-boundary checks run locally instead of over the network. The copy is checked against the server
 * when the model is created.
 */
public final class RemoteSourceModelProvider implements SourceModelProvider {
    static final Set<String> OPTIONS = Set.of("url", "model", "name", "timeout-seconds", "api-key", "tokenizer");
    /** Probe texts a local tokenizer must encode and decode exactly as the server's does. */
    static final List<String> PROBES = List.of("Question: Mia has 16 apples. She buys 7 more.\nAnswer: 16 + 7 = 23.",
            " The answer is 1,234.56!", " naïve café – 東京 😀");

    @Override
    public String name() {
        return "remote";
    }

    @Override
    public String description() {
        return "remote: a model served over HTTP by 'cool-fusion worker' (the Table-1 protocol);"
                + " options url, model, name, timeout-seconds, api-key, tokenizer";
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        requireNonNull(config, "config is null");
        config.requireOnly(OPTIONS);
        URI uri = httpUrl(config);
        JsonHttp client = new JsonHttp(uri, timeout(config, 60), config.get("api-key"), "model server",
                "start it (cool-fusion worker)");
        Wire.Models models = client.get(Wire.MODELS, Wire.Models.class, "list models");
        if (models.protocol() != Wire.PROTOCOL) {
            throw new FusionException("model server " + uri + " speaks protocol " + models.protocol() + ", this client "
                    + Wire.PROTOCOL + "; use matching cool-fusion versions");
        }
        List<Wire.ModelInfo> served = models.models();
        String chosen = chooseModel(config, served.stream().map(Wire.ModelInfo::name).toList(), "model server " + uri);
        Wire.ModelInfo info = served.stream().filter(m -> m.name().equals(chosen)).findFirst().orElseThrow();
        ServedModel model = new ServedModel(client, info.name());
        TextCodec remoteCodec = new RemoteTextCodec(model, info);
        TextCodec codec = config.get("tokenizer").isPresent()
                ? localTokenizer(config.get("tokenizer").get(), remoteCodec, uri, info.name())
                : remoteCodec;
        return new RemoteSourceModel(model, info, config.get("name", info.name()), codec);
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

    /** The {@code timeout-seconds} option (at least 1), or {@code seconds} when it is absent. */
    static Duration timeout(ProviderConfig config, int seconds) {
        int value = config.getInt("timeout-seconds", seconds);
        if (value < 1) {
            throw new FusionException("provider '" + config.provider() + "' option 'timeout-seconds' must be at least 1,"
                    + " got " + value);
        }
        return Duration.ofSeconds(value);
    }

    /** The {@code url} option as an http URI without a trailing slash, or an error naming the option. */
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

    private static TextCodec localTokenizer(String path, TextCodec served, URI uri, String model) {
        TextCodec local = LocalTokenizer.load(path);
        try {
            checkSame(local, served, path, uri, model);
        } catch (RuntimeException e) {
            LocalTokenizer.close(local);
            throw e;
        }
        return local;
    }

    private static void checkSame(TextCodec local, TextCodec served, String path, URI uri, String model) {
        String where = "the tokenizer at " + path + " does not match model '" + model + "' served at " + uri;
        if (!local.endOfSequenceIds().equals(served.endOfSequenceIds())
                || !local.beginOfSequenceId().equals(served.beginOfSequenceId())) {
            throw new FusionException(where + ": end/begin-of-sequence ids " + local.endOfSequenceIds() + "/"
                    + local.beginOfSequenceId() + " against " + served.endOfSequenceIds() + "/" + served.beginOfSequenceId()
                    + "; point 'tokenizer' at the served model's folder");
        }
        for (String probe : PROBES) {
            if (!local.encodeContinuation(probe).equals(served.encodeContinuation(probe))
                    || !local.encodePrompt(probe).equals(served.encodePrompt(probe))) {
                throw new FusionException(where + ": it tokenizes " + quote(probe) + " differently; point 'tokenizer' at"
                        + " the served model's folder");
            }
            List<Integer> ids = served.encodeContinuation(probe).ids();
            if (!local.decodeContinuation(ids).equals(served.decodeContinuation(ids))) {
                throw new FusionException(where + ": it decodes " + quote(probe) + " differently");
            }
        }
    }

    private static String quote(String s) {
        return "\"" + s.replace("\n", "\\n") + "\"";
    }

}
