package dev.coolfusion.remote;

import static java.util.Objects.requireNonNull;

import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The {@code remote} backend: a model served by a {@link TableOneServer} ({@code cool-fusion serve}). Options:
 * {@code url} (required, e.g. {@code http://127.0.0.1:8765}), {@code model} (the served name; may be left out when
 * the server serves one model), {@code name} (the name in this fusion; default the served name) and
 * {@code timeout-seconds} (per request, default 60).
 */
public final class RemoteSourceModelProvider implements SourceModelProvider {
    static final Set<String> OPTIONS = Set.of("url", "model", "name", "timeout-seconds");

    @Override
    public String name() {
        return "remote";
    }

    @Override
    public String description() {
        return "remote: a model served over HTTP by 'cool-fusion serve' (the Table-1 protocol);"
                + " options url, model, name, timeout-seconds";
    }

    @Override
    public SourceModel create(ProviderConfig config) {
        requireNonNull(config, "config is null");
        Set<String> unknown = new TreeSet<>(config.values().keySet());
        unknown.removeAll(OPTIONS);
        if (!unknown.isEmpty()) {
            throw new FusionException("provider 'remote' does not know option(s) " + unknown + "; known options: "
                    + new TreeSet<>(OPTIONS));
        }
        String url = config.require("url").trim();
        URI uri;
        try {
            uri = URI.create(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
        } catch (IllegalArgumentException e) {
            throw new FusionException("provider 'remote' option 'url' is not a URL: '" + url + "'", e);
        }
        if (!"http".equals(uri.getScheme()) || uri.getHost() == null) {
            throw new FusionException("provider 'remote' option 'url' must look like http://host:port, got '" + url + "'");
        }
        int seconds = config.getInt("timeout-seconds", 60);
        if (seconds < 1) {
            throw new FusionException("provider 'remote' option 'timeout-seconds' must be at least 1, got " + seconds);
        }
        RemoteClient client = new RemoteClient(uri, Duration.ofSeconds(seconds));
        Wire.Models models = client.models();
        if (models.protocol() != Wire.PROTOCOL) {
            throw new FusionException("model server " + uri + " speaks protocol " + models.protocol() + ", this client "
                    + Wire.PROTOCOL + "; use matching cool-fusion versions");
        }
        List<Wire.ModelInfo> served = models.models();
        Wire.ModelInfo info;
        if (config.get("model").isPresent()) {
            String wanted = config.get("model").get();
            info = served.stream().filter(m -> m.name().equals(wanted)).findFirst().orElseThrow(() -> new FusionException(
                    "model server " + uri + " does not serve '" + wanted + "'; it serves " + names(served)));
        } else if (served.size() == 1) {
            info = served.get(0);
        } else {
            throw new FusionException("model server " + uri + " serves " + names(served)
                    + "; choose one with the 'model' option");
        }
        return new RemoteSourceModel(client, info, config.get("name", info.name()));
    }

    private static List<String> names(List<Wire.ModelInfo> served) {
        return served.stream().map(Wire.ModelInfo::name).toList();
    }
}
