package dev.coolfusion.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The forwarding bases forward every method of their interface, so a method the SPI gains cannot be missed. */
class ForwardingTest {

    @Test
    void forwardingSourceModelForwardsEverythingButClose() {
        assertEquals(Set.of("close"), notForwarded(SourceModel.class, ForwardingSourceModel.class));
    }

    @Test
    void forwardingTextCodecForwardsEverything() {
        assertEquals(Set.of(), notForwarded(TextCodec.class, ForwardingTextCodec.class));
    }

    private static Set<String> notForwarded(Class<?> api, Class<?> forwarding) {
        Set<String> missing = new TreeSet<>();
        for (Method m : api.getMethods()) {
            if (Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            try {
                Method own = forwarding.getDeclaredMethod(m.getName(), m.getParameterTypes());
                if (Modifier.isAbstract(own.getModifiers())) {
                    missing.add(m.getName());
                }
            } catch (NoSuchMethodException e) {
                missing.add(m.getName());
            }
        }
        return missing;
    }

    @Test
    void unwrapReachesTheInnermostCodec() {
        TextCodec inner = new TextCodec() {
            @Override
            public Encoded encode(String text) {
                return new Encoded(text, List.of(), List.of(), List.of());
            }

            @Override
            public String decode(List<Integer> ids) {
                return Arrays.toString(ids.toArray());
            }

            @Override
            public Set<Integer> endOfSequenceIds() {
                return Set.of(2);
            }

            @Override
            public boolean isSpecial(int id) {
                return id == 2;
            }
        };
        TextCodec twice = new ForwardingTextCodec(new ForwardingTextCodec(inner) {}) {};
        assertEquals(inner, twice.unwrap());
        assertEquals("[1, 2]", twice.decode(List.of(1, 2)));
        assertEquals(Set.of(2), twice.endOfSequenceIds());
    }
}
