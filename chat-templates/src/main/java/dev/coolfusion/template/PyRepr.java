package dev.coolfusion.template;

import java.math.BigDecimal;

/** Python's text forms of values where they differ from Java's. */
final class PyRepr {
    private PyRepr() {}

    /**
     * Python's {@code repr(float)}: the shortest round-tripping digits, positional notation for exponents in
     * [-4, 16), else {@code 1e-05} style. {@code json} writes infinities as {@code Infinity}/{@code NaN}.
     */
    static String floatRepr(double d, boolean json) {
        if (Double.isNaN(d)) {
            return json ? "NaN" : "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? (json ? "Infinity" : "inf") : (json ? "-Infinity" : "-inf");
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal exact = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = exact.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - exact.scale(); // decimal exponent of the first digit
        String sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16) {
            String plain = exact.abs().toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        String exp = String.format("%02d", Math.abs(exponent));
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + exp;
    }
}
