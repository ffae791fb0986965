""" Seeded train / val / test split of an attribute CSV, stratified on the attributes as far as possible.

Each row is stratified on its rarest known attribute value (the value hardest to keep represented in every split),
rows without any known value form their own stratum; each stratum is shuffled and cut by the requested fractions.
Every image lands in exactly one split. Paths are rewritten relative to the output folder.

    python -m fashion_attrs.split data/garments/attributes.csv --out data/garments --val 0.15 --test 0.15
"""
import argparse
import csv
import os
from collections import Counter, defaultdict
from typing import Dict

import numpy as np

from timm_ml.data.readers import PATH_COLUMNS, UNKNOWN_VALUES


def split_attribute_csv(csv_path: str, out_dir: str, val: float = 0.15, test: float = 0.15, seed: int = 0,
                        path_column: str = None) -> Dict[str, str]:
    """Write <out>/{train,val,test}.csv; returns their paths."""
    with open(csv_path, newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], [r for r in rows[1:] if r]
    path_col = header.index(path_column) if path_column else next(
        (i for i, h in enumerate(header) if h.strip().lower() in PATH_COLUMNS), 0)
    attr_cols = [i for i in range(len(header)) if i != path_col]
    paths = [r[path_col] for r in rows]
    if len(set(paths)) != len(paths):
        dup = [p for p, n in Counter(paths).items() if n > 1][:3]
        raise ValueError(f'{csv_path}: duplicate image paths {dup}: an image would land in two splits')
    counts = Counter((c, r[c].strip()) for r in rows for c in attr_cols if r[c].strip() not in UNKNOWN_VALUES)
    strata = defaultdict(list)
    for i, r in enumerate(rows):
        known = [(c, r[c].strip()) for c in attr_cols if r[c].strip() not in UNKNOWN_VALUES]
        strata[min(known, key=lambda cv: (counts[cv], cv)) if known else None].append(i)
    rng = np.random.default_rng(seed)
    assignment = {}
    for key in sorted(strata, key=str):
        members = rng.permutation(strata[key])
        n_test = int(round(len(members) * test))
        n_val = int(round(len(members) * val))
        for j, i in enumerate(members):
            assignment[i] = 'test' if j < n_test else 'val' if j < n_test + n_val else 'train'
    src_dir = os.path.dirname(os.path.abspath(csv_path))
    os.makedirs(out_dir, exist_ok=True)
    outputs = {}
    for split in ('train', 'val', 'test'):
        out = os.path.join(out_dir, f'{split}.csv')
        with open(out, 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(header)
            for i, r in enumerate(rows):
                if assignment[i] == split:
                    r = list(r)
                    r[path_col] = os.path.relpath(os.path.join(src_dir, r[path_col]), os.path.abspath(out_dir))
                    w.writerow(r)
        outputs[split] = out
    return outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('csv')
    parser.add_argument('--out', required=True)
    parser.add_argument('--val', type=float, default=0.15)
    parser.add_argument('--test', type=float, default=0.15)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--path-column', default=None)
    args = parser.parse_args()
    for split, path in split_attribute_csv(args.csv, args.out, args.val, args.test, args.seed,
                                           args.path_column).items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    main()
