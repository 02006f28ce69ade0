package dev.coolfusion.spi;

/** A half-open range {@code [start, end)} of Java {@code char} offsets into a text. */
public record Span(int start, int end) {
    public Span {
        if (start < 0 || end < start) {
            throw new IllegalArgumentException("invalid span [" + start + ", " + end + ")");
        }
    }

    public int length() {
        return end - start;
    }
}
