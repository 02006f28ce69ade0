"""Attempt 7: after a wrong step, does a model's check compute (and expose the slip) or copy the known number?
Input: an `eval --out` file of models trained on checked solutions (commit 09ab3f3)."""
import json, re, sys
d = json.load(open(sys.argv[1]))
step = re.compile(r'(Check: )?(\d+) ([-+*/]) (\d+) = (\d+)\.')
def right(a, op, b, r):
    a, b, r = int(a), int(b), int(r)
    return {'+': a + b, '-': a - b, '*': a * b, '/': a / b if b else None}[op] == r
total = after_slip = copied = computed = 0
for item in d['items']:
    for key, out in item['outputs'].items():
        if not key.startswith('single:'):
            continue
        prev = None
        for m in step.finditer(out['text'].split('The answer')[0]):
            check, a, op, b, r = m.groups()
            if not check:
                prev = (a, op, b, r)
                continue
            if prev is None:
                continue
            total += 1
            if not right(*prev):
                after_slip += 1
                copied += r == prev[0]
                computed += right(a, op, b, r)
            prev = None
print('checks', total, 'after a wrong step', after_slip, 'copied the known number', copied, 'computed (slip exposed)', computed)
