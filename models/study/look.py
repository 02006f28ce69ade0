import json, math, sys
exec(open('/tmp/study/analyze.py').read().split('N = len(d)')[0])
variant, metric = sys.argv[2], sys.argv[3]
n=0
for x in d:
    cs = x['cands']
    i = pick(cs, variant, metric); j = pick(cs[:3], variant, metric)
    if cs[3]['correct'] != cs[i]['correct'] or cs[j]['correct'] != cs[i]['correct']:
        n+=1
        if n>14: continue
        print('Q', x['question'][:110], 'gold', x['gold'], '| cool+rr picks', cs[i]['author'], '| rr picks', cs[j]['author'])
        for c in cs:
            ppl = {m: round(math.exp(-sum(l)/len(l)),3) for m, l in c[variant].items()}
            print('   ', c['author'], 'OK ' if c['correct'] else 'bad', f"{score(c,variant,metric):.4f}", ppl, repr(c['text'][:90]))
print(n, 'differing')
