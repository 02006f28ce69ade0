package dev.coolfusion.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.coolfusion.djl.model.DjlSourceModel;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.StateHandle;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A worker with a certificate speaks TLS: a client that trusts it (tls-ca) works, a plaintext one does not. */
class WorkerTlsTest {
    @Test
    void aWorkerWithACertificateServesTlsOnly(@TempDir Path tmp) throws Exception {
        Path cert = tmp.resolve("cert.pem");
        Path key = tmp.resolve("key.pem");
        Process openssl;
        try {
            openssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=cool-fusion test worker",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key.toString(), "-out", cert.toString())
                    .redirectErrorStream(true).start();
        } catch (java.io.IOException noOpenssl) {
            Assumptions.abort("openssl is needed to make a test certificate: " + noOpenssl.getMessage());
            return;
        }
        String log = new String(openssl.getInputStream().readAllBytes());
        assertTrue(openssl.waitFor(60, TimeUnit.SECONDS) && openssl.exitValue() == 0, log);
        try (DjlSourceModel a = RemoteSourceModelTest.bundled("a", "A");
                TableOneServer worker = TableOneServer.builder().model(a).tls(cert, key).build().start()) {
            assertTrue(worker.uri().toString().startsWith("https://127.0.0.1:"), worker.uri().toString());
            try (SourceModel remote = new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                    Map.of("url", worker.uri().toString(), "tls-ca", cert.toString())))) {
                List<Integer> prompt = a.codec().encodePrompt("Question: 2 + 3?\nAnswer:");
                StateHandle r = remote.open(prompt);
                StateHandle l = a.open(prompt);
                assertEquals(a.nextToken(l, Decoding.GREEDY).token(), remote.nextToken(r, Decoding.GREEDY).token());
                a.release(List.of(l));
            }
            String plain = "http://" + worker.uri().getHost() + ":" + worker.uri().getPort();
            RemoteSourceModelTest.assertMessage(() -> new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                    Map.of("url", plain, "timeout-seconds", "5"))), "worker", "Describe");
            RemoteSourceModelTest.assertMessage(() -> new RemoteSourceModelProvider().create(ProviderConfig.of("remote",
                    Map.of("url", plain, "tls-ca", cert.toString()))), "'tls-ca' needs TLS", "https://");
            RemoteSourceModelTest.assertMessage(() -> TableOneServer.builder().model(a).tls(tmp.resolve("none.pem"),
                    key), "cannot read TLS file");
        }
    }
}
