package dev.coolfusion.core.inject;

import dev.coolfusion.core.config.Plugins;

import dev.coolfusion.core.config.FusionConfig;

import dev.coolfusion.core.config.ComponentSpec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.inject.AbstractModule;
import com.google.inject.ProvisionException;
import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.multibindings.MapBinder;
import dev.coolfusion.core.CoolFusion;
import dev.coolfusion.core.FusionOptions;
import dev.coolfusion.core.Generation;
import dev.coolfusion.core.TestModels;
import dev.coolfusion.core.metric.BitsPerByte;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ProviderConfig;
import dev.coolfusion.spi.SourceModel;
import dev.coolfusion.spi.SourceModelProvider;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CoolFusionModuleTest {

    /** A backend plugin added through Guice rather than META-INF/services. */
    static final class ScriptedProvider implements SourceModelProvider {
        @Override
        public String name() {
            return "scripted";
        }

        @Override
        public SourceModel create(ProviderConfig config) {
            return TestModels.scripted(config.require("name"), config.require("script"), 0.9);
        }
    }

    static final class TestBackends extends AbstractModule {
        @Override
        protected void configure() {
            MapBinder.newMapBinder(binder(), String.class, SourceModelProvider.class)
                    .addBinding("scripted").to(ScriptedProvider.class);
        }
    }

    @Test
    void serviceLoaderFindsTheBuiltInMetrics() {
        Plugins plugins = Plugins.discover();
        assertTrue(plugins.metricProviders().containsKey("avg-ppl"));
        assertTrue(plugins.metricProviders().containsKey("bits-per-byte"));
        assertEquals("bits-per-byte", plugins.metric(ComponentSpec.of("bits-per-byte")).name());
    }

    @Test
    void guiceBuildsAFusionFromConfigMergingServiceLoaderAndModuleProviders() {
        FusionConfig config = new FusionConfig(
                List.of(ComponentSpec.of("scripted", Map.of("name", "a", "script", "hello world")),
                        ComponentSpec.of("scripted", Map.of("name", "b", "script", "hello there"))),
                ComponentSpec.of(BitsPerByte.NAME), FusionOptions.defaults());
        Injector injector = Guice.createInjector(new CoolFusionModule(config), new TestBackends());
        CoolFusion fusion = injector.getInstance(CoolFusion.class);
        assertEquals(List.of("a", "b"), fusion.sources().stream().map(SourceModel::name).toList());
        assertEquals(BitsPerByte.NAME, fusion.metric().name());
        Generation g = fusion.generate("", config.options());
        assertTrue(g.text().startsWith("hello "), g.text());
        assertTrue(injector.getInstance(Plugins.class).modelProviders().containsKey("scripted"));
    }

    @Test
    void unknownProviderNamesAreClearErrors() {
        Plugins plugins = Plugins.discover();
        FusionException metric = assertThrows(FusionException.class, () -> plugins.metric(ComponentSpec.of("bleu")));
        assertTrue(metric.getMessage().contains("unknown metric 'bleu'"), metric.getMessage());
        assertTrue(metric.getMessage().contains("avg-ppl"), metric.getMessage());
        FusionException model = assertThrows(FusionException.class, () -> plugins.sourceModel(ComponentSpec.of("nope")));
        assertTrue(model.getMessage().contains("unknown model backend 'nope'"), model.getMessage());

        FusionConfig config = new FusionConfig(List.of(ComponentSpec.of("scripted", Map.of("name", "a"))),
                ComponentSpec.of("avg-ppl"), FusionOptions.defaults());
        ProvisionException e = assertThrows(ProvisionException.class,
                () -> Guice.createInjector(new CoolFusionModule(config), new TestBackends()).getInstance(CoolFusion.class));
        assertTrue(e.getMessage().contains("needs option 'script'"), e.getMessage());
    }

    @Test
    void guiceUsersGetTheFusionExceptionBehindAProvisionException() {
        FusionConfig config = new FusionConfig(List.of(ComponentSpec.of("djl", Map.of("path", "models/a"))),
                ComponentSpec.of("avg-ppl"), FusionOptions.defaults());
        Injector injector = Guice.createInjector(new CoolFusionModule(config));
        ProvisionException wrapped = assertThrows(ProvisionException.class, () -> injector.getInstance(CoolFusion.class));
        FusionException unwrapped = assertInstanceOf(FusionException.class, CoolFusionModule.unwrap(wrapped));
        assertTrue(unwrapped.getMessage().contains("dev.coolfusion:backend-djl"), unwrapped.getMessage());

        FusionException direct = assertThrows(FusionException.class,
                () -> CoolFusionModule.getInstance(injector, CoolFusion.class));
        assertEquals(unwrapped.getMessage(), direct.getMessage());
        assertThrows(FusionException.class,
                () -> CoolFusionModule.getInstance(injector, new Key<List<SourceModel>>() {}));
        // A Guice error with no FusionException behind it stays what it was.
        IllegalStateException other = new IllegalStateException("not Guice");
        assertSame(other, CoolFusionModule.unwrap(other));
    }
}
