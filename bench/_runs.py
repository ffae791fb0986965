""" Shared by the accuracy benches: build the mosaic data once, run train.py per configuration, tabulate."""
import os
import shutil
import subprocess
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = ['--model', 'test_resnet', '--input-size', '3', '56', '56', '-b', '64', '--opt', 'adamw', '--lr', '6e-3',
          '--weight-decay', '1e-4', '--warmup-epochs', '1', '--scale', '0.85', '1', '--ratio', '1', '1',
          '--color-jitter', '0', '-j', '2', '--log-interval', '1000', '--seed', '0']


def ensure_mosaics(data: str, train: int, val: int = 1000):
    if not os.path.isfile(os.path.join(data, 'val.json')):
        subprocess.run([sys.executable, '-m', 'fashion_attrs.mosaic', '--out', data, '--train', str(train),
                        '--val', str(val), '--test', '0'], cwd=ROOT, check=True)


def run_table(runs, data: str, epochs: int, output: str, common=COMMON) -> pd.DataFrame:
    """runs: [(name, extra train.py args)]; every run shares data, model, epochs and seed. Prints as it goes."""
    rows = []
    for i, (name, extra) in enumerate(runs):
        exp = f'run{i}'
        shutil.rmtree(os.path.join(output, exp), ignore_errors=True)
        subprocess.run([sys.executable, 'train.py', data, *common, '--epochs', str(epochs), *extra,
                        '--output', output, '--experiment', exp], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        summary = pd.read_csv(os.path.join(output, exp, 'summary.csv'))
        rows.append(dict(run=name, best_map=summary.eval_map.max(), last_map=summary.eval_map.iloc[-1],
                         last_CF1=summary.eval_CF1.iloc[-1], last_OF1=summary.eval_OF1.iloc[-1]))
        print(f'{name:36s} best mAP {rows[-1]["best_map"]:.2f}  last mAP {rows[-1]["last_map"]:.2f}', flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(output, 'results.csv'), index=False)
    print(table.to_string(index=False, float_format=lambda v: f'{v:.2f}'))
    return table
