""" Reading an OpenImages-size partial-label file: 9M image-level labels x 20k classes (the V6 train set's scale).

    python bench/openimages_scale.py [--rows 9000000] [--classes 20000] [--images 1700000]

Writes `<tmp>/train-annotations-human-imagelabels.csv` (ImageID, Source, LabelName, Confidence; ~60% positives,
the rest verified negatives) and `oidv6-class-descriptions.csv`, then reads them with timm_ml's OpenImages reader in a
fresh process and prints the time, the peak RSS of that process and the size of the sparse targets.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mb():
    """VmHWM of this process (ru_maxrss would carry the forking parent's peak across exec)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write(folder, rows, classes, images, seed=0):
    rng = np.random.default_rng(seed)
    mids = np.array([f'/m/{i:06x}' for i in range(classes)])
    pd.DataFrame({'LabelName': mids, 'DisplayName': [f'class {i}' for i in range(classes)]}).to_csv(
        os.path.join(folder, 'oidv6-class-descriptions.csv'), index=False)
    image_ids = np.array([f'{i:016x}' for i in range(images)])
    frame = pd.DataFrame({
        'ImageID': image_ids[np.sort(rng.integers(0, images, rows))],
        'Source': 'verification',
        'LabelName': mids[(rng.zipf(1.3, rows) - 1) % classes],  # long-tailed class frequencies
        'Confidence': (rng.random(rows) < 0.6).astype(np.int8),
    })
    frame.to_csv(os.path.join(folder, 'train-annotations-human-imagelabels.csv'), index=False)


def child(folder):
    sys.path.insert(0, ROOT)
    from timm_ml.data import read_label_set
    base = peak_rss_mb()
    start = time.perf_counter()
    labels = read_label_set(folder, 'train', 'openimages')
    took = time.perf_counter() - start
    t = labels.targets
    print(f'read: {len(t.indices)} labels, {len(labels)} images, {labels.num_classes} classes in {took:.1f} s; peak RSS '
          f'{peak_rss_mb():.0f} MB ({peak_rss_mb() - base:.0f} MB above the interpreter with torch); sparse targets '
          f'{(t.indptr.nbytes + t.indices.nbytes + t.values.nbytes) / 2**20:.0f} MB + {len(labels.paths)} path strings')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rows', type=int, default=9_000_000)
    parser.add_argument('--classes', type=int, default=20_000)
    parser.add_argument('--images', type=int, default=1_700_000)
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write(tmp, args.rows, args.classes, args.images)
        size = os.path.getsize(os.path.join(tmp, 'train-annotations-human-imagelabels.csv')) / 2**20
        print(f'wrote a {size:.0f} MB label file ({args.rows} rows) in {time.perf_counter() - start:.1f} s')
        subprocess.run([sys.executable, __file__, '--child', tmp], check=True)


if __name__ == '__main__':
    main()
