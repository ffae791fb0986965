""" Multi-label demo data from Fashion-MNIST: grid mosaics of real garment images, label = garments present.

Train mosaics use only the 60k train images, val / test only the 10k test images. Writes PNG files plus an OTX-style
JSON label file per split (the real loading path):

    python -m fashion_attrs.mosaic --out data/fmnist_mosaic --train 4000 --val 1000 --test 1000
"""
import argparse
import csv
import json
import logging
import os
from typing import Dict, Optional

import numpy as np
from PIL import Image

from .fashion_mnist import CLASSES, load_fashion_mnist

_logger = logging.getLogger(__name__)


def make_mosaic(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, grid: int = 2,
                empty_prob: float = 0.25):
    """One (grid*28)^2 grayscale mosaic; each cell holds a random image or stays empty (at least one filled)."""
    cells = grid * grid
    filled = rng.random(cells) >= empty_prob
    if not filled.any():
        filled[rng.integers(cells)] = True
    canvas = np.zeros((grid * 28, grid * 28), dtype=np.uint8)
    present, cell_labels = set(), [None] * cells
    for c in np.flatnonzero(filled):
        i = rng.integers(len(images))
        r, k = divmod(int(c), grid)
        canvas[r * 28:(r + 1) * 28, k * 28:(k + 1) * 28] = images[i]
        present.add(CLASSES[labels[i]])
        cell_labels[c] = int(labels[i])
    return canvas, sorted(present, key=CLASSES.index), cell_labels


def build_split(out_dir: str, split: str, count: int, images, labels, seed: int, grid: int = 2,
                empty_prob: float = 0.25) -> Dict:
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    entries, cells = [], []
    for n in range(count):
        canvas, present, cell_labels = make_mosaic(images, labels, rng, grid, empty_prob)
        rel = f'{split}/{n:06d}.png'
        Image.fromarray(canvas).save(os.path.join(out_dir, rel))
        entries.append([rel, present])
        cells.append(cell_labels)
    with open(os.path.join(out_dir, f'{split}.json'), 'w') as f:
        json.dump({'classes': list(CLASSES), 'images': entries}, f)
    write_attribute_csv(os.path.join(out_dir, f'{split}_attributes.csv'), entries, cells, grid)
    return {'entries': entries, 'cells': cells}


def write_attribute_csv(path: str, entries, cells, grid: int = 2):
    """Attribute view of the same mosaics: one column per cell holding its garment, '#N/A' for an empty cell."""
    columns = [f'cell{r}{k}' for r in range(grid) for k in range(grid)]
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['filename'] + columns)
        for (rel, _), cell_labels in zip(entries, cells):
            w.writerow([rel] + ['#N/A' if c is None else CLASSES[c] for c in cell_labels])


def build_mosaic_dataset(out_dir: str, train: int = 4000, val: int = 1000, test: int = 1000, seed: int = 0,
                         grid: int = 2, empty_prob: float = 0.25, fmnist_root: Optional[str] = None) -> Dict:
    """Build train / val / test splits; returns per split the entries and per-cell source labels."""
    train_images, train_labels = load_fashion_mnist('train', fmnist_root)
    test_images, test_labels = load_fashion_mnist('test', fmnist_root)
    # val and test both draw from the 10k test images, from disjoint halves
    half = len(test_images) // 2
    out = {}
    for split, count, imgs, lbls, s in (
            ('train', train, train_images, train_labels, seed),
            ('val', val, test_images[:half], test_labels[:half], seed + 1),
            ('test', test, test_images[half:], test_labels[half:], seed + 2)):
        if count:
            out[split] = build_split(out_dir, split, count, imgs, lbls, s, grid, empty_prob)
            _logger.info(f'{split}: {count} mosaics')
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='data/fmnist_mosaic')
    parser.add_argument('--train', type=int, default=4000)
    parser.add_argument('--val', type=int, default=1000)
    parser.add_argument('--test', type=int, default=1000)
    parser.add_argument('--grid', type=int, default=2)
    parser.add_argument('--empty-prob', type=float, default=0.25)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--fmnist-root', default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    build_mosaic_dataset(args.out, args.train, args.val, args.test, args.seed, args.grid, args.empty_prob,
                         args.fmnist_root)
    print(f'wrote {args.out}/{{train,val,test}}.json')


if __name__ == '__main__':
    main()
