package dev.coolfusion.inference;


import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.coolfusion.hf.HfTextCodec;
import dev.coolfusion.spi.Decoding;
import dev.coolfusion.spi.FusionException;
import dev.coolfusion.spi.ScoredTokens;
import dev.coolfusion.spi.StateHandle;
import dev.coolfusion.spi.TextCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * A proposer-only source behind Ollama's {@code POST /api/generate} ({@code raw: true, stream: false}). Ollama takes
 * text, not token ids, and returns text, and it scores no given text, so this source proposes segments
 * ({@link #nextText}, {@link #nextToken}) but cannot score ({@link #canScore()} is false; {@link #score} throws); its
 * state follows the winner through {@link #append}, with no request.
 *
 * <p>A state is a token sequence of the local tokenizer, kept here. Each request sends it as text: the tokens decoded,
 * special tokens written as their names (a chat-templated prompt stays one), a leading begin-of-sequence token left
 * out because Ollama adds the model's own. Ollama tokenizes that text again; where the text does not tokenize back to
 * the same ids (a segment that ends inside what would be one token), the model sees the text's own tokenization rather
 * than the fusion's. The generated text comes back as text and is tokenized with the local tokenizer (as a
 * continuation): the text is exact, the token split is the local tokenizer's. Its log-probabilities ({@code logprobs},
 * Ollama 0.12.11 or later) are kept where Ollama's pieces line up with the local tokens one to one, else they are NaN;
 * they are informational, never part of the rerank metric. End of generation ({@code done_reason: "stop"} before
 * {@code num_predict} tokens) is the local tokenizer's end-of-sequence token.
 */
final class OllamaSourceModel extends ServedSourceModel {
    static final String GENERATE = "/api/generate";

    /** The {@code num-ctx} option, which every request sends as Ollama's {@code num_ctx}: Ollama never truncates. */
    private final int contextTokens;

    OllamaSourceModel(JsonHttp api, String servedModel, String name, TextCodec codec, int contextTokens, int chunkTokens) {
        super("Ollama", GENERATE, api, servedModel, name, codec, OptionalInt.of(contextTokens), chunkTokens);
        this.contextTokens = contextTokens;
    }

    @Override
    public boolean canScore() {
        return false;
    }

    @Override
    protected String contextTooSmall(int context) {
        return " context (option num-ctx) is " + context + "; shorten the prompt or raise num-ctx";
    }

    /** M3 is what Ollama cannot do: its API returns no log-probabilities of a given text. */
    @Override
    public List<ScoredTokens> score(StateHandle state, List<List<Integer>> candidates) {
        throw new FusionException("source '" + name + "' (Ollama model '" + servedModel + "' at " + api.base()
                + ") cannot score text: Ollama's /api/generate returns log-probabilities of the tokens it generates, not"
                + " of a given continuation, so this source only proposes (canScore() is false); serve the model with"
                + " vLLM or SGLang for a source that scores");
    }

    /** The state after {@code tokens}, kept here: no request (Ollama gets the text with the next generation). */
    @Override
    public StateHandle append(StateHandle state, List<Integer> tokens) {
        return extendLocally(state, tokens);
    }

    /** The text Ollama gets for {@code tokens}: decoded, special tokens by name, a leading begin-of-sequence left out. */
    String promptText(List<Integer> tokens) {
        int from = codec.beginOfSequenceId().isPresent() && tokens.get(0) == codec.beginOfSequenceId().getAsInt() ? 1 : 0;
        StringBuilder text = new StringBuilder();
        List<Integer> run = new ArrayList<>();
        for (int i = from; i < tokens.size(); i++) {
            int id = tokens.get(i);
            if (codec.isSpecial(id)) {
                flush(text, run);
                if (!(codec instanceof HfTextCodec hf)) {
                    throw new FusionException("source '" + name + "': cannot write special token " + id + " as text"
                            + " for Ollama with tokenizer " + codec);
                }
                text.append(hf.tokenText(id));
            } else {
                run.add(id);
            }
        }
        flush(text, run);
        return text.toString();
    }

    private void flush(StringBuilder text, List<Integer> run) {
        if (!run.isEmpty()) {
            text.append(text.length() == 0 ? codec.decode(run) : codec.decodeContinuation(run));
            run.clear();
        }
    }

    @Override
    protected ChunkedSegments.Chunk generate(List<Integer> tokens, int maxTokens, Decoding decoding) {
        ObjectNode request = Json.MAPPER.createObjectNode().put("model", servedModel).put("prompt", promptText(tokens))
                .put("raw", true).put("stream", false).put("logprobs", true);
        ObjectNode options = request.putObject("options").put("num_predict", maxTokens).put("num_ctx", contextTokens)
                .put("repeat_penalty", 1.0).put("presence_penalty", 0.0).put("frequency_penalty", 0.0);
        if (decoding.greedy()) {
            options.put("temperature", 0);
        } else {
            options.put("temperature", decoding.temperature()).put("top_p", decoding.topP()).put("top_k", 0)
                    .put("seed", (long) (decoding.uniform() * Integer.MAX_VALUE));
        }
        String what = maxTokens == 1 ? "next-token" : "next-text";
        JsonNode answer = post(request, what);
        if (!answer.path("response").isTextual()) {
            throw malformed(what, "no 'response' text");
        }
        String text = answer.path("response").asText();
        boolean stopped = "stop".equals(answer.path("done_reason").asText(""));
        List<Integer> ids = new ArrayList<>(text.isEmpty() ? List.of() : codec.encodeContinuation(text).ids());
        List<Double> logProbs = logProbs(ids, answer.path("logprobs"));
        if (ids.size() > maxTokens) {
            // The local tokenizer split the text finer than the server's tokens: the rest is dropped, not look-ahead.
            ids = new ArrayList<>(ids.subList(0, maxTokens));
            logProbs = new ArrayList<>(logProbs.subList(0, maxTokens));
        } else if (stopped) {
            OptionalInt eos = codec.primaryEndOfSequenceId();
            if (eos.isEmpty()) {
                throw new FusionException("source '" + name + "': Ollama ended the text but the tokenizer " + codec
                        + " has no end-of-sequence id to say so");
            }
            if (ids.size() < maxTokens) {
                ids.add(eos.getAsInt());
                logProbs.add(Double.NaN);
            }
        }
        if (ids.isEmpty()) {
            throw malformed(what, "no text generated (done_reason '" + answer.path("done_reason").asText("") + "')");
        }
        return new ChunkedSegments.Chunk(ids, logProbs);
    }

    /** Ollama's log-prob of each local token where its pieces end where the local tokens do, else NaN. */
    private List<Double> logProbs(List<Integer> ids, JsonNode entries) {
        List<Double> out = new ArrayList<>();
        boolean aligned = entries.isArray() && entries.size() == ids.size();
        if (aligned) {
            int ends = 0;
            for (int i = 0; i < ids.size() && aligned; i++) {
                ends += entries.get(i).path("token").asText("").length();
                aligned = entries.get(i).path("logprob").isNumber()
                        && codec.decodeContinuation(ids.subList(0, i + 1)).length() == ends;
            }
        }
        for (int i = 0; i < ids.size(); i++) {
            out.add(aligned ? entries.get(i).path("logprob").asDouble() : Double.NaN);
        }
        return out;
    }
}
