package dev.coolfusion.server;

import static dev.coolfusion.server.Fixtures.KEY;
import static dev.coolfusion.server.Fixtures.q;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The playground in a real browser: Debian's {@code chromium}, headless, driven by {@code playwright-core} (npm) from
 * {@code node}; the page streams an answer whose coloured segments concatenate to what the API answers. Skipped, with
 * the command that installs what is missing, where chromium, node or playwright-core is not there ({@code .ci/run}
 * installs them, so CI always runs it). The screenshot is {@code target/playground.png}.
 */
class PlaygroundBrowserTest {
    /** Where {@code .ci/run} installs playwright-core: {@code npm install --prefix fusion-server/target/playwright}. */
    static final Path PLAYWRIGHT = Path.of("target", "playwright", "node_modules", "playwright-core");
    static final String INSTALL_PLAYWRIGHT = "npm install --no-save --prefix fusion-server/target/playwright"
            + " playwright-core@1.65.1";

    @Test
    void aPromptStreamsInAsSegmentsColouredByTheirWinner() throws Exception {
        Path chromium = Path.of(System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium"));
        assumeTrue(Files.isExecutable(chromium), "skipped: no Chromium at " + chromium + "; install it with"
                + " 'apt-get update && apt-get install -y chromium' (or set CHROMIUM to its path)");
        assumeTrue(runs("node", "--version"), "skipped: no node on the PATH; install it with 'apt-get install -y"
                + " nodejs npm'");
        assumeTrue(Files.isRegularFile(PLAYWRIGHT.resolve("package.json")), "skipped: playwright-core is not at "
                + PLAYWRIGHT.toAbsolutePath() + "; from the repository root run '" + INSTALL_PLAYWRIGHT + "'");
        Path script = Path.of("src", "test", "resources", "playground", "playground-check.cjs").toAbsolutePath();
        Path screenshot = Path.of("target", "playground.png").toAbsolutePath();
        Files.deleteIfExists(screenshot);
        String prompt = Fixtures.QUESTION;
        try (FusionServer server = Fixtures.serve(b -> {})) {
            // What the API answers the page's requests (the defaults the page reads from /v1/models).
            Fixtures.Answer chat = Fixtures.post(server, "/v1/chat/completions", "{\"model\": " + q(server.modelName())
                    + ", \"messages\": [{\"role\": \"user\", \"content\": " + q(prompt) + "}], \"max_tokens\": 96,"
                    + " \"temperature\": 0}");
            Fixtures.Answer completion = Fixtures.post(server, "/v1/completions", "{\"model\": " + q(server.modelName())
                    + ", \"prompt\": " + q(prompt) + ", \"max_tokens\": 96, \"temperature\": 0}");
            assertEquals(200, chat.status(), chat.body());
            assertEquals(200, completion.status(), completion.body());
            JsonNode seen = browse(script, server.uri().toString() + "/", prompt, screenshot, chromium);

            assertEquals(0, seen.path("failures").size(), "offline, no page errors: " + seen.path("failures"));
            assertEquals("completion", seen.path("defaultMode").asText(), "sources without chat templates");
            Map<String, String> colours = new HashMap<>();
            for (JsonNode chip : seen.path("legend")) {
                colours.put(chip.path("model").asText(), chip.path("background").asText());
            }
            assertEquals(List.of("A", "B", "C"), List.copyOf(new TreeSet<>(colours.keySet())));
            assertEquals(3, new HashSet<>(colours.values()).size(), "one colour per model: " + colours);
            checkAnswer(seen.path("chat"), chat.json().at("/choices/0/message/content").asText(), colours);
            String expected = completion.json().at("/choices/0/text").asText();
            checkAnswer(seen.path("completion"), expected, colours);
            assertTrue(expected.contains("The answer is"), expected);
            assertTrue(Files.size(screenshot) > 10_000, "screenshot at " + screenshot);
        }
    }

    /** The stream finished, its segments are coloured by their winners and concatenate to the API's answer. */
    private static void checkAnswer(JsonNode seen, String expected, Map<String, String> colours) {
        assertEquals("done", seen.path("state").asText(), seen.toString());
        JsonNode segments = seen.path("segments");
        assertTrue(segments.size() >= 2, "segments: " + segments);
        StringBuilder concatenated = new StringBuilder();
        for (JsonNode s : segments) {
            String winner = s.path("winner").asText();
            assertTrue(colours.containsKey(winner), "a segment won by a known model: " + s);
            assertEquals(colours.get(winner), s.path("background").asText(), "coloured by its winner: " + s);
            concatenated.append(s.path("text").asText());
        }
        assertEquals(expected, concatenated.toString(), "the segments concatenate to the API's answer");
        assertEquals(expected, seen.path("answer").asText());
        assertEquals(expected, seen.path("text").asText());
        assertTrue(List.of("stop", "length").contains(seen.path("finish").asText()), seen.toString());
        JsonNode details = seen.path("details");
        assertTrue(details.size() >= 2, "the hovered step's candidates: " + details);
        String header = details.get(0).toString();
        assertTrue(header.contains("\"A\"") && header.contains("\"B\"") && header.contains("\"C\""),
                "every model's score: " + header);
    }

    private static JsonNode browse(Path script, String url, String prompt, Path screenshot, Path chromium)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("node", script.toString(), url, KEY, prompt, screenshot.toString(),
                chromium.toString());
        pb.environment().put("PLAYWRIGHT_CORE", PLAYWRIGHT.toAbsolutePath().toString());
        pb.redirectErrorStream(false);
        Path err = Files.createTempFile("playground", ".err");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "node did not finish");
        String stderr = Files.readString(err);
        Files.deleteIfExists(err);
        assertEquals(0, p.exitValue(), "node failed: " + stderr + new String(out, StandardCharsets.UTF_8));
        String[] lines = new String(out, StandardCharsets.UTF_8).trim().split("\n");
        return Fixtures.JSON.readTree(lines[lines.length - 1]);
    }

    private static boolean runs(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
