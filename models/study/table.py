import json, sys
r = json.load(open(sys.argv[1])); fam = [json.loads(l)['family'] for l in open(sys.argv[2])]
best = max(m['accuracy'] for m in r['methods'] if m['method'].startswith('single:'))
print('| method | correct | accuracy | vs best single | add | mul | mix |'); print('|---|---|---|---|---|---|---|')
for m in r['methods']:
    name = m['method']; per = {}
    for it in r['items']:
        f = fam[it['line']-1]; per.setdefault(f, [0,0]); per[f][1]+=1; per[f][0]+= it['outputs'][name]['correct']
    print(f"| `{name}` | {m['correct']}/{m['total']} | {100*m['accuracy']:.1f} % | {m['accuracy']/best:.2f}× | " + ' | '.join(f"{per[f][0]}/{per[f][1]}" for f in ['add','mul','mix']) + ' |')
