""" Partial-label losses on the Fashion-MNIST mosaics at one fixed budget.

    python bench/partial_labels.py [--epochs 4] [--train 2000]

Prints best val mAP for CSL negative / ignore / selective with RPS 0.5 (half the training annotations hidden) and for
BCE vs ASL on full labels; every run uses the same model, data, epochs and seed.
"""
import argparse
import os
import subprocess
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = ['--model', 'test_resnet', '--input-size', '3', '56', '56', '-b', '64', '--opt', 'adamw', '--lr', '6e-3',
          '--weight-decay', '1e-4', '--warmup-epochs', '1', '--scale', '0.85', '1', '--ratio', '1', '1',
          '--color-jitter', '0', '-j', '2', '--log-interval', '1000', '--seed', '0']
RUNS = [
    ('csl negative, rps:0.5', ['--loss', 'csl', '--partial-loss-mode', 'negative', '--loss-reduction', 'batchmean',
                               '--simulate-partial', 'rps:0.5']),
    ('csl ignore, rps:0.5', ['--loss', 'csl', '--partial-loss-mode', 'ignore', '--loss-reduction', 'batchmean',
                             '--simulate-partial', 'rps:0.5']),
    ('csl selective, rps:0.5', ['--loss', 'csl', '--partial-loss-mode', 'selective', '--likelihood-topk', '1',
                                '--loss-reduction', 'batchmean', '--simulate-partial', 'rps:0.5']),
    ('bce, full labels', ['--loss', 'bce']),
    ('asl, full labels', ['--loss', 'asl']),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=os.path.join(ROOT, 'data', 'bench_mosaic'))
    parser.add_argument('--train', type=int, default=2000)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--output', default=os.path.join(ROOT, 'output', 'bench_partial'))
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.data, 'val.json')):
        subprocess.run([sys.executable, '-m', 'fashion_attrs.mosaic', '--out', args.data, '--train', str(args.train),
                        '--val', '1000', '--test', '0'], cwd=ROOT, check=True)
    rows = []
    for i, (name, extra) in enumerate(RUNS):
        exp = f'run{i}'
        subprocess.run([sys.executable, 'train.py', args.data, *COMMON, '--epochs', str(args.epochs), *extra,
                        '--output', args.output, '--experiment', exp], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        summary = pd.read_csv(os.path.join(args.output, exp, 'summary.csv'))
        rows.append(dict(run=name, best_map=summary.eval_map.max(), last_map=summary.eval_map.iloc[-1],
                         last_OF1=summary.eval_OF1.iloc[-1]))
        print(f'{name:28s} best mAP {rows[-1]["best_map"]:.2f}  last mAP {rows[-1]["last_map"]:.2f}', flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(args.output, 'results.csv'), index=False)
    print(table.to_string(index=False, float_format=lambda v: f'{v:.2f}'))


if __name__ == '__main__':
    main()
