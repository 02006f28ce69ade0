import json, math, sys
d = json.load(open(sys.argv[1]))
def permodel(c, variant, kind):
    out = {}
    for m, l in c[variant].items():
        tot = -sum(l)
        b = len(c['text'].encode()) + (1 if variant=='eos' else 2 if variant=='stop' else 0)
        out[m] = tot/len(l) if kind=='nll' else tot/b
    return out
def choose(cands, variant, kind, agg):
    pm = [permodel(c, variant, kind) for c in cands]
    models = list(pm[0])
    if agg == 'borda':
        s = [0.0]*len(cands)
        for m in models:
            for i in range(len(cands)):
                s[i] += sum(1 for j in range(len(cands)) if pm[j][m] < pm[i][m]) + 0.5*sum(1 for j in range(len(cands)) if j!=i and pm[j][m]==pm[i][m])
    elif agg == 'z':
        s = [0.0]*len(cands)
        for m in models:
            v = [p[m] for p in pm]; mu = sum(v)/len(v); sd = (sum((x-mu)**2 for x in v)/len(v))**.5 or 1
            for i in range(len(cands)): s[i] += (v[i]-mu)/sd
    return min(range(len(cands)), key=lambda i: (s[i], i))
N=len(d)
for variant in ['none','stop']:
    for kind in ['nll','bpb']:
        for agg in ['borda','z']:
            rr = sum(x['cands'][choose(x['cands'][:3],variant,kind,agg)]['correct'] for x in d)
            cr = sum(x['cands'][choose(x['cands'],variant,kind,agg)]['correct'] for x in d)
            print(variant, kind, agg, 'rerank', rr, 'cool+rerank', cr, 'cool', sum(x['cands'][3]['correct'] for x in d))
