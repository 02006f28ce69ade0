import json, math, sys
d = json.load(open(sys.argv[1]))
def bpb(c, variant, m):
    l = c[variant][m]; b = len(c['text'].encode()) + (2 if variant=='stop' else 0)
    return -sum(l)/math.log(2)/b
def sc(c, variant, loo):
    ms = [m for m in c[variant] if not (loo and m == c['author'])]
    return sum(bpb(c, variant, m) for m in ms)/len(ms)
for variant in ['none','stop']:
  for loo in [False, True]:
    rr = sum(x['cands'][min(range(3), key=lambda i:(sc(x['cands'][i],variant,loo),i))]['correct'] for x in d)
    cr = sum(x['cands'][min(range(4), key=lambda i:(sc(x['cands'][i],variant,loo),i))]['correct'] for x in d)
    print(variant, 'leave-author-out' if loo else 'all scorers', 'rerank', rr, 'cool+rerank', cr)
# self preference: how often each model's own answer is its own top choice among singles
for m in 'ABC':
    own = sum(1 for x in d if min(range(3), key=lambda i: bpb(x['cands'][i],'stop',m)) == 'ABC'.index(m))
    print(m, 'ranks its own answer first on', own, 'of', len(d))
