import json, math, sys
d = json.load(open(sys.argv[1]))
def score(c, variant, metric):
    vals = []
    for m, lps in c[variant].items():
        if not lps: continue
        tot = -sum(lps); n = len(lps)
        if metric == 'avg-ppl': vals.append(math.exp(tot / n))
        elif metric == 'geo-ppl': vals.append(tot / n)
        elif metric == 'bpb':
            b = len(c['text'].encode()) + (1 if variant == 'eos' else 2 if variant == 'stop' else 0)
            vals.append(tot / math.log(2) / b)
        elif metric == 'max-ppl': vals.append(tot/n)
    if not vals: return float('inf')
    if metric == 'max-ppl': return max(vals)
    return sum(vals) / len(vals)
def pick(cands, variant, metric):
    s = [score(c, variant, metric) for c in cands]
    return min(range(len(s)), key=lambda i: (s[i], i))
N = len(d)
acc = {a: sum(x['cands'][i]['correct'] for x in d) for i, a in enumerate(['A','B','C','cool'])}
print(N, 'items;', {k: f"{100*v/N:.1f}" for k, v in acc.items()}, 'oracle singles', sum(any(c['correct'] for c in x['cands'][:3]) for x in d), 'oracle all', sum(any(c['correct'] for c in x['cands']) for x in d))
print('eval cool+rerank (sanity)', sum(x['coolrerank_correct'] for x in d))
for variant in ['none', 'eos', 'stop']:
    for metric in ['avg-ppl', 'geo-ppl', 'bpb', 'max-ppl']:
        rr = sum(x['cands'][pick(x['cands'][:3], variant, metric)]['correct'] for x in d)
        cr = sum(x['cands'][pick(x['cands'], variant, metric)]['correct'] for x in d)
        print(f"{variant:5s} {metric:8s} rerank {rr:3d} ({100*rr/N:.1f}%)  cool+rerank {cr:3d} ({100*cr/N:.1f}%)  cool {acc['cool']}")
def tot(c, variant):
    v=[-sum(l) for l in c[variant].values() if l]; return sum(v)/len(v)
for variant in ['none','eos','stop']:
    rr = sum(x['cands'][min(range(3), key=lambda i:(tot(x['cands'][i],variant),i))]['correct'] for x in d)
    cr = sum(x['cands'][min(range(4), key=lambda i:(tot(x['cands'][i],variant),i))]['correct'] for x in d)
    print(variant, 'total-nll rerank', rr, 'cool+rerank', cr)
# how often is the cool candidate picked, and how often is it right when picked
for variant, metric in [('none','avg-ppl'),('stop','bpb')]:
    picks=[pick(x['cands'],variant,metric) for x in d]
    pc=[x for x,i in zip(d,picks) if i==3 and x['cands'][3]['text'] not in [c['text'] for c in x['cands'][:3]]]
    print(variant, metric, 'cool picked as a new answer', len(pc), 'right', sum(x['cands'][3]['correct'] for x in pc))
    new=[x for x in d if x['cands'][3]['text'] not in [c['text'] for c in x['cands'][:3]]]
    print('  cool answer differs from every single on', len(new), 'items; right on', sum(x['cands'][3]['correct'] for x in new))
