""" Garment-attribute data in the seed's exact format, derived from real Fashion-MNIST images.

Writes `<out>/images/*.png` and `<out>/attributes.csv` with columns `filename,neck,sleeve_length,pattern`
(7 / 4 / 10 values, '#N/A' where the attribute is not visible). The original garment photos cannot be downloaded
here, so each attribute is read off one cell of a 2x2 mosaic of real garments, with skewed (imbalanced) garment
frequencies and empty cells giving '#N/A':

    neck           top-left cell: 7 upper-body / bag garments -> 7 neck types, other garments or empty -> #N/A
    sleeve_length  top-right cell: garment group -> 4 sleeve lengths, empty -> #N/A
    pattern        bottom-left cell: garment -> 10 patterns, empty -> #N/A

    python -m fashion_attrs.garments --out data/garments --count 3000
"""
import argparse
import csv
import os

import numpy as np
from PIL import Image

from .fashion_mnist import CLASSES, load_fashion_mnist

ATTRIBUTES = ('neck', 'sleeve_length', 'pattern')
DISPLAY_NAMES = {'neck': 'Neck Type', 'sleeve_length': 'Sleeve Length Type', 'pattern': 'Pattern Type'}
NECK = {'T-shirt/top': 'round', 'Pullover': 'turtle', 'Dress': 'v-neck', 'Coat': 'collar', 'Shirt': 'button-down',
        'Trouser': 'waistband', 'Bag': 'strap'}
SLEEVE = {'T-shirt/top': 'short', 'Dress': 'short', 'Pullover': 'long', 'Coat': 'long', 'Shirt': 'long',
          'Trouser': 'sleeveless', 'Bag': 'sleeveless', 'Sandal': 'three-quarter', 'Sneaker': 'three-quarter',
          'Ankle boot': 'three-quarter'}
PATTERN = dict(zip(CLASSES, ('solid', 'striped', 'checked', 'floral', 'dotted', 'printed', 'graphic', 'abstract',
                             'animal', 'camouflage')))
CELL_OF = {'neck': 0, 'sleeve_length': 1, 'pattern': 2}
MAPS = {'neck': NECK, 'sleeve_length': SLEEVE, 'pattern': PATTERN}
# imbalanced on purpose: garment class weights fall off geometrically (most common ~ 12x the rarest)
CLASS_WEIGHTS = 0.76 ** np.arange(len(CLASSES))


def build_garments(out_dir: str, count: int = 3000, seed: int = 0, empty_prob: float = 0.15, split: str = 'train',
                   fmnist_root=None) -> str:
    """Write images and attributes.csv; returns the CSV path. Images come from Fashion-MNIST's `split` ('train'
    or 'test')."""
    images, labels = load_fashion_mnist(split, fmnist_root)
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(labels == c) for c in range(len(CLASSES))]
    weights = CLASS_WEIGHTS / CLASS_WEIGHTS.sum()
    os.makedirs(os.path.join(out_dir, 'images'), exist_ok=True)
    csv_path = os.path.join(out_dir, 'attributes.csv')
    with open(csv_path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['filename', *ATTRIBUTES])
        for n in range(count):
            canvas = np.zeros((56, 56), dtype=np.uint8)
            cell_classes = []
            for cell in range(4):
                if rng.random() < empty_prob:
                    cell_classes.append(None)
                    continue
                c = int(rng.choice(len(CLASSES), p=weights))
                i = rng.choice(by_class[c])
                r, k = divmod(cell, 2)
                canvas[r * 28:(r + 1) * 28, k * 28:(k + 1) * 28] = images[i]
                cell_classes.append(CLASSES[c])
            name = f'{n:06d}.png'
            Image.fromarray(canvas).save(os.path.join(out_dir, 'images', name))
            row = [f'images/{name}']
            for attr in ATTRIBUTES:
                garment = cell_classes[CELL_OF[attr]]
                row.append(MAPS[attr].get(garment, '#N/A') if garment else '#N/A')
            w.writerow(row)
    return csv_path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='data/garments')
    parser.add_argument('--count', type=int, default=3000)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    print(build_garments(args.out, args.count, args.seed))


if __name__ == '__main__':
    main()
