package dev.coolfusion.remote;

import java.net.URI;

/** One model on a {@link TableOneServer}, as a client calls it: {@code POST /v1/models/{name}/{operation}}. */
record ServedModel(JsonHttp http, String name) {
    <T> T call(String operation, Object body, Class<T> type) {
        return http.post(Wire.MODELS + "/" + name + "/" + operation, body, type, operation + " on model '" + name + "'");
    }

    URI base() {
        return http.base();
    }
}
