package dev.coolfusion.remote;

import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelContract;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The SPI's contract over the network: the bundled demo model C behind a loopback {@link TableOneServer}. */
class RemoteSourceModelContractTest extends SourceModelContract {
    static DjlSourceModel local;
    static TableOneServer server;
    static SourceModel remote;

    @BeforeAll
    static void serve() {
        local = RemoteSourceModelTest.bundled("c", "C");
        server = TableOneServer.builder().model(local).build().start();
        remote = new RemoteSourceModelProvider().create(ProviderConfig.of("remote", Map.of("url", server.uri().toString())));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (local != null) {
            local.close();
        }
    }

    @Override
    protected SourceModel model() {
        return remote;
    }

    @Override
    protected OptionalInt liveStates() {
        return OptionalInt.of(server.liveStates("C"));
    }
}
