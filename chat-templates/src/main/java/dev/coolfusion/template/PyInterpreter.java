package dev.coolfusion.template;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;

/** A Jinjava interpreter that prints booleans and floats as Python does ({@code True}, {@code 2.0}). */
final class PyInterpreter extends JinjavaInterpreter {
    static final InterpreterFactory FACTORY = new InterpreterFactory() {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new PyInterpreter(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig renderConfig) {
            return new PyInterpreter(application, context, renderConfig);
        }
    };

    private PyInterpreter(JinjavaInterpreter orig) {
        super(orig);
    }

    private PyInterpreter(Jinjava application, Context context, JinjavaConfig config) {
        super(application, context, config);
    }

    @Override
    public String getAsString(Object object) {
        if (object instanceof Boolean b) {
            return b ? "True" : "False";
        }
        if (object instanceof Double || object instanceof Float) {
            return PyRepr.floatRepr(((Number) object).doubleValue(), false);
        }
        return super.getAsString(object);
    }
}
