package dev.coolfusion.remote;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlModelOptions;
import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.testkit.BundledModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A host the server cannot bind is named for what it is, not blamed on the port. */
class ServerHostTest {
    private static DjlSourceModel model;

    @BeforeAll
    static void load() {
        model = DjlSourceModel.load(BundledModels.dir().resolve("a"), DjlModelOptions.builder().name("A").build());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void anUnknownHostIsNamed() {
        FusionException e = assertThrows(FusionException.class,
                () -> TableOneServer.builder().model(model).host("no-such-host.invalid").build());
        assertTrue(e.getMessage().contains("unknown host 'no-such-host.invalid'"), e.getMessage());
    }

    @Test
    void anAddressOfAnotherMachineIsNotBlamedOnThePort() {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine; binding sends no traffic.
        FusionException e = assertThrows(FusionException.class,
                () -> TableOneServer.builder().model(model).host("192.0.2.1").port(0).build());
        assertTrue(e.getMessage().contains("192.0.2.1 is not an address of this machine"), e.getMessage());
        assertFalse(e.getMessage().contains("choose another --port"), e.getMessage());
    }
}
