""" The method table at 224 px on cached features: each set cached once by a frozen ImageNet backbone (224 px), then
every head / loss row searched by the fair protocol on the cache (python -m timm_ml.features.search: the same lr
grid, until val mAP stops improving, chosen on val, test on the chosen run, 2 seeds for the top rows), and the partial
label rows at RPS 0.5 and 0.9.

    python bench/feature_table.py [--sets emoji icons] [--model tf_efficientnet_lite0] [--img-size 224]

Caches under data/cache/, searches under output/bench_features/; prints the tables with each search's wall time.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench import ROOT, model_weights  # noqa: E402
from real_data import ensure_sets  # noqa: E402

HEAD_ROWS = ['bce-linear', 'asl-linear', 'aam-cosine', 'mldecoder', 'gcn', 'ssgrl']
PARTIAL_ROWS = ['ignore=--ml-head linear --loss bce', 'csl-selective=--ml-head linear --loss csl --partial-loss-mode '
                'selective', 'csl-negative=--ml-head linear --loss csl --partial-loss-mode negative']
SHARED = '-b 128 --opt adamw --weight-decay 1e-4 --sched cosine --warmup-epochs 0'


def sh(cmd):
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sets', nargs='+', default=['emoji', 'icons'])
    parser.add_argument('--model', default='tf_efficientnet_lite0')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--lrs', nargs='+', default=['3e-4', '1e-3', '3e-3'])
    parser.add_argument('--rps', nargs='*', default=['0.5', '0.9'], help='RPS of the partial-label rows; none: '
                        'head rows only')
    parser.add_argument('--heads', nargs='+', default=HEAD_ROWS)
    args = parser.parse_args()
    ensure_sets(args.sets)
    for name in args.sets:
        cache = os.path.join(ROOT, 'data', 'cache', f'{name}-{args.model}-{args.img_size}')
        took = sh([sys.executable, '-m', 'timm_ml.features', os.path.join(ROOT, 'data', name), '--model', args.model,
                   '--pretrained-path', model_weights(args.model), '--img-size', str(args.img_size), '--out', cache,
                   '--splits', 'train', 'validation', 'test'])
        print(f'{name}: cache {cache} ({took:.0f} s)', flush=True)
        searches = [('heads', args.heads, SHARED)] + [(f'rps{p}', PARTIAL_ROWS, f'{SHARED} --simulate-partial rps:{p}')
                                                       for p in args.rps]
        for label, rows, shared in searches:
            out = os.path.join(ROOT, 'output', 'bench_features', f'{name}-{args.model}-{args.img_size}', label)
            took = sh([sys.executable, '-m', 'timm_ml.features.search', cache, '--out', out, '--rows', *rows,
                       '--lrs', *args.lrs, '--epochs', str(args.epochs), '--patience', '3', '--shared', shared])
            print(f'\n### {name}, {label} ({took / 60:.1f} min)\n', flush=True)
            print(open(os.path.join(out, 'table.md')).read(), flush=True)


if __name__ == '__main__':
    main()
