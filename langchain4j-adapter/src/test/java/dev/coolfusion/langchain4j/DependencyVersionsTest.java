package dev.coolfusion.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * cool-fusion-bom (bom/pom.xml) publishes the versions this module is tested with: every third-party version it
 * manages is the one whose jar is on this test class path, and it manages every cool-fusion artifact. Applications
 * that import it resolve what the tests ran on (not Guava 31.0.1 and Jackson 2.20 by nearest-wins).
 */
class DependencyVersionsTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    private static Document read(Path pom) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return factory.newDocumentBuilder().parse(pom.toFile());
    }

    private static Element child(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                return e;
            }
        }
        return null;
    }

    private static String text(Element parent, String name) {
        Element e = child(parent, name);
        return e == null ? null : e.getTextContent().strip();
    }

    /** The BOM's managed versions, by groupId:artifactId, with its properties filled in. */
    private static Map<String, String> bom() throws Exception {
        Element project = read(ROOT.resolve("bom/pom.xml")).getDocumentElement();
        assertEquals(null, child(project, "parent"), "the BOM stands alone: no parent, so no plugins leak");
        assertEquals("dev.coolfusion", text(project, "groupId"));
        assertEquals("cool-fusion-bom", text(project, "artifactId"));
        assertEquals("pom", text(project, "packaging"));
        Map<String, String> properties = new HashMap<>();
        NodeList props = child(project, "properties").getChildNodes();
        for (int i = 0; i < props.getLength(); i++) {
            if (props.item(i) instanceof Element e) {
                properties.put(e.getTagName(), e.getTextContent().strip());
            }
        }
        Map<String, String> out = new HashMap<>();
        NodeList deps = child(child(project, "dependencyManagement"), "dependencies").getElementsByTagName("dependency");
        for (int i = 0; i < deps.getLength(); i++) {
            Element d = (Element) deps.item(i);
            Matcher m = Pattern.compile("\\$\\{([^}]+)}").matcher(text(d, "version"));
            StringBuilder version = new StringBuilder();
            while (m.find()) {
                m.appendReplacement(version, Matcher.quoteReplacement(properties.get(m.group(1))));
            }
            m.appendTail(version);
            out.put(text(d, "groupId") + ":" + text(d, "artifactId"), version.toString());
        }
        return out;
    }

    /** The version of the jar {@code type} was loaded from, from its file name in the local repository. */
    private static String jarVersion(Class<?> type, String artifactId) throws Exception {
        String file = Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).getFileName().toString();
        assertTrue(file.startsWith(artifactId + "-") && file.endsWith(".jar"), type + " from " + file);
        return file.substring(artifactId.length() + 1, file.length() - ".jar".length());
    }

    @Test
    void theBomManagesTheThirdPartyVersionsTheAdapterIsTestedWith() throws Exception {
        Map<String, String> bom = bom();
        Map<String, Class<?>> tested = Map.of(
                "com.google.guava:guava", com.google.common.collect.ImmutableList.class,
                "com.google.inject:guice", com.google.inject.Guice.class,
                "com.hubspot.jinjava:jinjava", com.hubspot.jinjava.Jinjava.class,
                "ai.djl:api", ai.djl.ndarray.NDManager.class,
                "ai.djl.huggingface:tokenizers", ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.class);
        for (var e : tested.entrySet()) {
            String artifactId = e.getKey().substring(e.getKey().indexOf(':') + 1);
            assertEquals(jarVersion(e.getValue(), artifactId), bom.get(e.getKey()), e.getKey());
        }
        // Imported BOMs: the version of each family as the tests see it.
        assertEquals(jarVersion(com.fasterxml.jackson.databind.ObjectMapper.class, "jackson-databind"),
                bom.get("com.fasterxml.jackson:jackson-bom"));
        assertEquals(jarVersion(com.fasterxml.jackson.core.JsonFactory.class, "jackson-core"),
                bom.get("com.fasterxml.jackson:jackson-bom"));
        assertEquals(jarVersion(com.fasterxml.jackson.dataformat.yaml.YAMLFactory.class, "jackson-dataformat-yaml"),
                bom.get("com.fasterxml.jackson:jackson-bom"));
        assertEquals(jarVersion(dev.langchain4j.model.chat.ChatModel.class, "langchain4j-core"),
                bom.get("dev.langchain4j:langchain4j-bom"));
        assertEquals(jarVersion(dev.langchain4j.service.AiServices.class, "langchain4j"),
                bom.get("dev.langchain4j:langchain4j-bom"));
    }

    @Test
    void theBomManagesEveryCoolFusionArtifactAtTheProjectsVersion() throws Exception {
        Map<String, String> bom = bom();
        Element root = read(ROOT.resolve("pom.xml")).getDocumentElement();
        String version = text(root, "version");
        NodeList modules = child(root, "modules").getElementsByTagName("module");
        Set<String> missing = new TreeSet<>();
        List<String> artifacts = new ArrayList<>();
        for (int i = 0; i < modules.getLength(); i++) {
            String module = modules.item(i).getTextContent().strip();
            if (module.equals("bom") || module.equals("samples")) {
                continue;
            }
            Path pom = ROOT.resolve(module).resolve("pom.xml");
            assertTrue(Files.isRegularFile(pom), pom.toString());
            String artifact = "dev.coolfusion:" + text(read(pom).getDocumentElement(), "artifactId");
            artifacts.add(artifact);
            if (!version.equals(bom.get(artifact))) {
                missing.add(artifact + " (BOM: " + bom.get(artifact) + ")");
            }
        }
        assertTrue(missing.isEmpty(), "not managed at " + version + ": " + missing);
        assertTrue(artifacts.contains("dev.coolfusion:langchain4j-adapter"), artifacts.toString());
        Set<String> managed = new TreeSet<>(bom.keySet());
        managed.removeIf(key -> !key.startsWith("dev.coolfusion:"));
        assertEquals(new TreeSet<>(artifacts), managed, "the BOM manages exactly the project's library modules");
    }
}
