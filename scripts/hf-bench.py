#!/usr/bin/env python3
"""Hugging Face transformers reference for `cool-fusion bench-model --reference-shape small|medium`.

Builds a random Llama of the same shape as the CLI's reference shapes (testkit TinyCheckpoints.Spec.llamaSmall /
llamaMedium: hidden, intermediate, layers, heads, kv heads, vocab, max positions 2048, rms_norm_eps 1e-5, rope_theta
10000, untied head, float32) and measures, as cli/ModelBenchmark does:

  * warm-up: 20 prefills of the 256-token prompt, then a 300-step greedy decode from a 16-token prompt;
  * prefill: 7 prefills of a fresh 256-token prompt (BOS + 255 random ids) into an empty DynamicCache, median;
  * decode: 128 greedy steps from the 256-token prompt, each `model(next, past_key_values=cache, use_cache=True)`,
    then log_softmax and argmax of the last position (what a cool-fusion state holds: the log-probs after it).

Prefill and decode ask for the last position's logits only (`logits_to_keep=1`, as `generate` does), so this is
the fastest ordinary transformers path; attention is transformers' default (sdpa). Everything runs under
`torch.inference_mode()` with `torch.set_num_threads(N)` (and one inter-op thread, as `--threads N` sets for DJL).

Not part of the build (the build never needs Python). Usage, e.g. with a venv holding torch and transformers:

    python scripts/hf-bench.py --shape small --threads 1
"""

import argparse
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.cache_utils import DynamicCache

SHAPES = {
    # hidden, intermediate, layers, heads, kv heads, vocab
    "small": (128, 512, 4, 4, 2, 2048),
    "medium": (512, 1376, 8, 8, 4, 32000),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=SHAPES, default="small")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prompt", type=int, default=256)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    hidden, inter, layers, heads, kv, vocab = SHAPES[args.shape]
    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab,
                      max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, torch_dtype="float32")
    torch.manual_seed(42)
    model = LlamaForCausalLM(cfg).eval()
    gen = torch.Generator().manual_seed(42)

    def prompt(n):
        ids = torch.randint(3, vocab, (1, n), generator=gen)
        ids[0, 0] = 1
        return ids

    def prefill(ids):
        cache = DynamicCache()
        out = model(ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float().log_softmax(-1), cache

    def decode(ids, steps):
        logp, cache = prefill(ids)
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            nxt = logp.argmax(-1, keepdim=True)
            out = model(nxt, past_key_values=cache, use_cache=True, logits_to_keep=1)
            logp = out.logits[:, -1].float().log_softmax(-1)
        return time.perf_counter() - t0, time.thread_time() - c0

    with torch.inference_mode():
        p = prompt(args.prompt)
        for _ in range(20):
            prefill(p)
        decode(p[:, :16], 300)
        times, cpu = [], []
        for _ in range(args.repeats):
            own = prompt(args.prompt)
            t0, c0 = time.perf_counter(), time.thread_time()
            prefill(own)
            times.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        prefill_rate = args.prompt / statistics.median(times)
        decode_wall, decode_cpu = decode(p, args.decode)
        decode_rate = args.decode / decode_wall
    print(f"hf {args.shape} threads {args.threads}: prefill {prefill_rate:.0f} tok/s ({args.prompt}-token prompt)"
          f" | decode {decode_rate:.1f} tok/s (greedy, KV cache) | torch {torch.__version__}")
    # On a shared machine the calling thread's CPU time is steadier than wall time (with one thread, the ops run there).
    print(f"   thread CPU: prefill {args.prompt / statistics.median(cpu):.0f} tok/s | decode"
          f" {args.decode / decode_cpu:.1f} tok/s")


if __name__ == "__main__":
    main()
