"""Renders the real chat templates under src/test/resources/templates/ the way transformers'
apply_chat_template(messages, tokenize=False, add_generation_prompt=...) does, and writes the results to
src/test/resources/templates/expected.json, which RealChatTemplatesTest compares the Java renderer against.

Not part of the build: run it by hand after changing a template or a case, in a virtual environment outside the
repository with `pip install jinja2 transformers==5.17.0`:

    python chat-templates/src/test/python/render_expected.py

It calls transformers' own render_jinja_template (the function apply_chat_template renders with), passing the
special tokens as apply_chat_template does (tokenizer.special_tokens_map, then the extra template variables).
"""
import json
import pathlib

import jinja2
import transformers
from transformers.utils.chat_template_utils import render_jinja_template

HERE = pathlib.Path(__file__).resolve().parent
TEMPLATES = HERE.parent / "resources" / "templates"

# Special tokens as each model's tokenizer_config.json gives them (the tokens the tokenizer's
# special_tokens_map holds, which apply_chat_template passes to the template).
DEEPSEEK = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
            "pad_token": "<｜end▁of▁sentence｜>"}
FAMILIES = {
    "phi3": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>", "pad_token": "<|endoftext|>"},
    "glm4": {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "qwen3": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "gemma2": {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "gemma3": {"bos_token": "<bos>", "eos_token": "<end_of_turn>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "deepseek-v3": DEEPSEEK,
    "deepseek-r1-distill-qwen": DEEPSEEK,
}

SYSTEM = {"role": "system", "content": "You are a concise assistant."}
U1 = {"role": "user", "content": "What is the capital of France?"}
A1 = {"role": "assistant", "content": "Paris."}
U2 = {"role": "user", "content": "  And of Italy?\nOne word, please.  "}
CONVERSATIONS = {
    "system+user": [SYSTEM, U1],
    "system+multi-turn": [SYSTEM, U1, A1, U2],
    "multi-turn": [U1, A1, U2],
    "user": [U1],
}
# Extra cases for templates with more to exercise.
EXTRA = {
    "qwen3": [
        ("multi-turn, thinking off", "multi-turn", {"enable_thinking": False}),
        ("reasoning in history", [SYSTEM, U1, {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\nParis."},
                                  U2], {}),
    ],
    "deepseek-r1-distill-qwen": [
        ("reasoning in history", [U1, {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\nParis."}, U2], {}),
    ],
    "deepseek-v3": [
        ("two system messages", [SYSTEM, {"role": "system", "content": "Answer in English."}, U1], {}),
    ],
}


def render(template, tokens, messages, generation_prompt, variables):
    try:
        out = render_jinja_template(conversations=[messages], chat_template=template,
                                    add_generation_prompt=generation_prompt, **{**tokens, **variables})
    except jinja2.exceptions.TemplateError as e:
        return None, str(e)
    rendered = out[0] if isinstance(out, tuple) else out
    return rendered[0], None


def main():
    cases = []
    for family, tokens in FAMILIES.items():
        template = (TEMPLATES / f"{family}.jinja").read_text(encoding="utf-8")
        runs = [(name, msgs, {}) for name, msgs in CONVERSATIONS.items()] + EXTRA.get(family, [])
        for name, msgs, variables in runs:
            if isinstance(msgs, str):
                msgs = CONVERSATIONS[msgs]
            for generation_prompt in (True, False):
                expected, error = render(template, tokens, msgs, generation_prompt, variables)
                case = {"template": f"{family}.jinja", "case": name, "special_tokens": tokens,
                        "variables": variables, "messages": msgs, "add_generation_prompt": generation_prompt}
                if error is None:
                    case["expected"] = expected
                else:
                    case["raises"] = error
                cases.append(case)
    doc = {"generated_by": f"transformers {transformers.__version__} render_jinja_template, jinja2 {jinja2.__version__}",
           "cases": cases}
    (TEMPLATES / "expected.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
