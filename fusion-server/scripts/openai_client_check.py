#!/usr/bin/env python3
"""The fused model through the official `openai` Python client: a chat completion and a streamed text completion.

Start the server first, e.g. `./cool-fusion serve --config models/fusion.yaml` (http://127.0.0.1:8000), then:

    python3 -m venv /tmp/oa && /tmp/oa/bin/pip install openai
    /tmp/oa/bin/python fusion-server/scripts/openai_client_check.py [--base-url http://127.0.0.1:8000/v1]

With `serve --api-key` (or COOL_FUSION_API_KEY), pass the same key with --api-key or OPENAI_API_KEY. The script
checks what a client relies on: the streamed chunks concatenate to the non-streamed answer, the last chunk carries
`finish_reason`, `stream_options.include_usage` brings a usage chunk, every response carries the `cool_fusion` trace
(segments with their winning model and every model's score), and a refused field is an `openai.BadRequestError` that
names it. It exits 1 on the first difference.
"""
import argparse
import os
import sys

import openai

QUESTION = ("Question: Max has 18 shells and buys 7 packs of 5. He then gives away 5. How many shells does he have?"
            "\nAnswer:")


def check(condition, what):
    if not condition:
        print("FAILED: " + what, file=sys.stderr)
        sys.exit(1)
    print("ok: " + what)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY")
                        or os.environ.get("COOL_FUSION_API_KEY") or "none")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)

    model = client.models.list().data[0]
    sources = [s["name"] for s in model.model_extra["cool_fusion"]["sources"]]
    print(f"model {model.id}, sources {sources}")

    # A chat completion: each source reads the conversation in its own chat template.
    chat = client.chat.completions.create(model=model.id, messages=[{"role": "user", "content": QUESTION}],
                                          max_tokens=48)
    text = chat.choices[0].message.content
    segments = chat.model_extra["cool_fusion"]["segments"]
    print("chat:", repr(text))
    print("  " + " | ".join(f"[{s['winner']}]{s['text']}" for s in segments))
    check("".join(s["text"] for s in segments) == text, "the chat answer's segments concatenate to it")
    check(all(set(s["scores"]) == set(sources) for s in segments), "every model scored every segment")
    check(chat.choices[0].finish_reason in ("stop", "length"), "finish_reason " + chat.choices[0].finish_reason)

    # A text completion, whole and streamed.
    whole = client.completions.create(model=model.id, prompt=QUESTION, max_tokens=48)
    pieces, finish, usage = [], None, None
    stream = client.completions.create(model=model.id, prompt=QUESTION, max_tokens=48, stream=True,
                                       stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.text)
            finish = choice.finish_reason or finish
    print("completion:", repr(whole.choices[0].text))
    print("streamed in", len(pieces), "chunks:", pieces)
    check("".join(pieces) == whole.choices[0].text, "the streamed chunks concatenate to the whole completion")
    check(finish == whole.choices[0].finish_reason, "the last chunk's finish_reason is the whole one's")
    check(usage is not None and usage.completion_tokens == whole.usage.completion_tokens,
          "include_usage brings the usage")

    # A refused field is a 400 naming it.
    try:
        client.chat.completions.create(model=model.id, messages=[{"role": "user", "content": "hi"}], n=2)
        check(False, "n=2 is refused")
    except openai.BadRequestError as e:
        check(e.body.get("param") == "n", "n=2 is refused: " + e.body.get("message", ""))
    print("all checks passed")


if __name__ == "__main__":
    main()
