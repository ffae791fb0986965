""" Small data: a few hundred labelled images, the case most first runs are. The emoji set (bench/emoji_set.py) cut
to 400 training and 300 validation images (seeded), tf_efficientnet_lite0 from ImageNet weights, 64 px, batch 32,
12 epochs (~150 updates), test on the full emoji test split.

    python bench/small_data.py

Rows:
- timm's ImageNet recipe as a user copies it: `--warmup-epochs 5 --model-ema` (decay 0.9998), AdamW lr 1e-3;
  train.py's log says that this EMA cannot move in the run's 144 updates and proposes a decay that can;
- the small-data recipe of the README: no warmup, no EMA, the rest the same;
- the same with the EMA decay train.py proposes for the run (`--model-ema --model-ema-decay <suggested>`).
Chosen on val (model_best), reported on test.
"""
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench import ROOT, ensure_weights, run  # noqa: E402

DATA = os.path.join(ROOT, 'data', 'emoji')  # small_train.json / small_val.json written beside its splits
OUT = os.path.join(ROOT, 'output', 'bench_small_data')


def build(train=400, val=300, seed=0):
    source = os.path.join(ROOT, 'data', 'emoji')
    if not os.path.isfile(os.path.join(source, 'train.json')):
        raise SystemExit('error: data/emoji is missing: python bench/emoji_set.py builds it')
    for split, n in (('train', train), ('val', val)):  # beside the set's own files: the paths stay inside its root
        data = json.load(open(os.path.join(source, f'{split}.json')))
        images = random.Random(seed).sample(list(data['images']), n)
        with open(os.path.join(DATA, f'small_{split}.json'), 'w') as f:
            json.dump(dict(classes=data['classes'], images=images), f)


def flags(extra):
    return ['--model', 'tf_efficientnet_lite0', '--pretrained-path', ensure_weights(), '--img-size', '64', '-b', '32',
            '--opt', 'adamw', '--lr', '1e-3', '--weight-decay', '1e-4', '--sched', 'cosine', '--epochs', '12',
            '--seed', '0', '--log-interval', '1000', '-j', '2', '--train-split', 'small_train', '--val-split',
            'small_val', *extra]


def main():
    build()
    rows = [('timm ImageNet recipe (warmup 5, EMA 0.9998)', ['--warmup-epochs', '5', '--model-ema']),
            ('small-data recipe (no warmup, no EMA)', ['--warmup-epochs', '0'])]
    results = []
    for name, extra in rows:
        out = run(DATA, flags(extra), os.path.join(OUT, re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')))
        results.append((name, out))
        if '--model-ema' in extra and '--model-ema-decay' not in extra:
            log = open(os.path.join(OUT, re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')) + '.log').read()
            said = re.search(r'--model-ema-decay ([0-9.]+)', log[log.find('averages over'):])
            if said:
                fitted = f'fitted EMA (--model-ema-decay {said.group(1)}, what train.py proposed)'
                rows.append((fitted, ['--warmup-epochs', '0', '--model-ema', '--model-ema-decay', said.group(1)]))
    print('| recipe | best val mAP (epoch) | test mAP |')
    print('|---|---|---|')
    for name, out in results:
        summary = out['summary']
        print(f'| {name} | {summary.eval_map.max():.2f} ({int(summary.epoch[summary.eval_map.idxmax()])}) | '
              f'{out["test"]["map"]:.2f} |')


if __name__ == '__main__':
    main()
