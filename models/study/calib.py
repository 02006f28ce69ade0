"""Temperature calibration study (dev only): fit each scorer's temperature on the gold answers' NLL, then rerank.

usage: python3 calib.py caldev.json   (from CalibrationStudy.java)
"""
import json, math, sys

d = json.load(open(sys.argv[1]))
grid, items = d['grid'], d['items']
models = list(items[0]['cands'][0]['scores'].keys())
one = grid.index(min(grid, key=lambda t: abs(t - 1.0)))


def gold(c):
    return c['author'] == 'gold'


# fitted temperature per model: lowest mean per-token NLL of the gold answers
fit = {}
for m in models:
    nll = []
    for g in range(len(grid)):
        tot = sum(-c['scores'][m]['logprob'][g] for it in items for c in it['cands'] if gold(c))
        n = sum(c['scores'][m]['tokens'] for it in items for c in it['cands'] if gold(c))
        nll.append(tot / n)
    best = min(range(len(grid)), key=lambda g: nll[g])
    fit[m] = best
    print(f"{m}: gold NLL/token at T=1 {nll[one]:.4f}, best T={grid[best]:.1f} -> {nll[best]:.4f}")


def ppl(c, m, g):
    s = c['scores'][m]
    return math.exp(-s['logprob'][g] / s['tokens'])


def choose(cands, temps):
    return min(cands, key=lambda c: sum(ppl(c, m, temps[m]) for m in models) / len(models))


def run(temps, label):
    rr = cr = cool = 0
    own = {m: 0 for m in models}
    for it in items:
        singles = [c for c in it['cands'] if c['author'] in models]
        fused = [c for c in it['cands'] if c['author'] == 'cool']
        rr += choose(singles, temps)['correct']
        cr += choose(singles + fused, temps)['correct']
        cool += fused[0]['correct']
        for m in models:
            top = min(singles, key=lambda c: ppl(c, m, temps[m]))
            own[m] += top['author'] == m
    print(f"{label}: rerank {rr}, cool+rerank {cr} (cool {cool}); own answer ranked first by its author: {own}")


run({m: one for m in models}, "T=1")
run(fit, "fitted " + ", ".join(f"{m}={grid[fit[m]]:.1f}" for m in models))
for t in (1.5, 2.0, 3.0):
    g = grid.index(min(grid, key=lambda x: abs(x - t)))
    run({m: g for m in models}, f"all T={t}")
