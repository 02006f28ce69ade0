"""Attempt 6: whole-answer scoring where no scorer judges text it wrote itself (input: AuthorStudy output)."""
import json, math, sys
d = json.load(open(sys.argv[1]))
M = ['A','B','C']
def authors_at(cands, ci):
    """per-char author sets of candidate ci: fused segment proposers, plus every model whose own answer shares the prefix through that char"""
    c = cands[ci]; t = c['text'] + '\n\n'; n = len(t)
    au = [set() for _ in range(n)]
    for s in c['segs']:
        for p in range(s['start'], s['end']): au[p] |= set(s['by'])
    if c['segs']:
        last = c['segs'][-1]['by']
        for p in range(len(c['text']), n): au[p] |= set(last)
    return au, t
def prefix_auth(cands, ci, au, t):
    for mi, m in enumerate(M):
        s = cands[mi]['text'] + '\n\n'
        for p in range(len(t)):
            if p < len(s) and s[p] == t[p]: au[p].add(m)
            else: break
    return au
def score(cands, ci, rule):
    c = cands[ci]
    au, t = authors_at(cands, ci)
    if rule.get('prefix'): au = prefix_auth(cands, ci, au, t)
    per = []; pool_n = 0.0; pool_b = 0; pool_k = 0
    for m in M:
        nll = 0.0; b = 0; k = 0
        for lp, s, e in c['lp'][m]:
            span = range(s, max(e, s+1))
            if rule.get('loo'):
                # judged only where m wrote none of the token's chars
                if any(m in au[p] for p in span if p < len(au)): continue
            nll -= lp; b += (e - s); k += 1
        if k == 0: continue
        pool_n += nll; pool_b += b; pool_k += k
        per.append(nll / max(b,1) if rule['kind']=='bpb' else math.exp(nll/k) if rule['kind']=='ppl' else nll/k)
    if rule.get('pool'):
        return pool_n / max(pool_b,1) if pool_k else 0.0
    return sum(per)/len(per) if per else 0.0
def run(rule, items):
    rr = cr = cool = co = ro = 0
    for x in items:
        cs = x['cands']
        s = [score(cs, i, rule) for i in range(4)]
        r = min(range(3), key=lambda i:(s[i], i)); a = min(range(4), key=lambda i:(s[i], i))
        rr += cs[r]['correct']; cr += cs[a]['correct']; cool += cs[3]['correct']
        co += cs[3]['correct'] and not cs[a]['correct']; ro += cs[a]['correct'] and not cs[3]['correct']
    return rr, cr, cool, co, ro
rules = {
 'avg-ppl all (Eq.3)': dict(kind='ppl'),
 'bpb all': dict(kind='bpb'),
 'bpb loo-author': dict(kind='bpb', loo=1),
 'ppl loo-author': dict(kind='ppl', loo=1),
 'bpb loo-prefix': dict(kind='bpb', loo=1, prefix=1),
 'ppl loo-prefix': dict(kind='ppl', loo=1, prefix=1),
 'bpb loo-prefix pooled': dict(kind='bpb', loo=1, prefix=1, pool=1),
 'nll loo-prefix': dict(kind='nll', loo=1, prefix=1),
}
for name, rule in rules.items():
    rr, cr, cool, co, ro = run(rule, d)
    print(f'{name:26s} rerank {rr}  cool+rerank {cr}  cool {cool}  (cool only {co}, c+r only {ro})')
if len(sys.argv) > 2:
    rule = rules[sys.argv[2]]
    picks = [0]*4
    for x in d:
        cs = x['cands']; s = [score(cs, i, rule) for i in range(4)]
        picks[min(range(4), key=lambda i:(s[i], i))] += 1
    print('picks A,B,C,fused', picks)
