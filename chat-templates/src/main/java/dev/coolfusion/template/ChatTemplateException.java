package dev.coolfusion.template;

import dev.coolfusion.spi.FusionException;

/** A chat template could not be rendered: it raised an exception ({@code raise_exception}) or is invalid. */
public class ChatTemplateException extends FusionException {
    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
