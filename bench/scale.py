""" Scale: an Open-Images-sized label file and evaluation, measured in one run (each in its own process so peak
memory is its own).

    python bench/scale.py [--images 1000000 --classes 10000 --labels 5] [--eval-images 200000]

1. Reads a synthetic TSV of 1M images x 10k classes (~5 labels each) with the shared reader: time and peak RSS
   (targets: <= 10 s, <= 1 GB).
2. Masked mAP (+ F1 family) of 200k x 10k float16 logits (validate.py --store-dtype float16) with 30% unknown
   targets: time and peak RSS (target <= 60 s), then the same values as float32 (the bucketing path that float32
   outputs take) on the first classes: both times and the largest AP difference (equal by construction: both exact).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_tsv(folder, images, classes, labels, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    with open(os.path.join(folder, 'label.txt'), 'w') as f:
        f.write('\n'.join(f'/m/{i:05d}' for i in range(classes)) + '\n')
    with open(os.path.join(folder, 'train.tsv'), 'w') as f:
        chunk = 100000
        for start in range(0, images, chunk):
            n = min(chunk, images - start)
            counts = rng.poisson(labels, n)
            picks = rng.integers(0, classes, counts.sum())
            ends = np.cumsum(counts)
            lines = []
            for i in range(n):
                labs = picks[ends[i] - counts[i]:ends[i]]
                lines.append(f'images/{start + i:08d}.jpg\t' + ','.join(f'/m/{c:05d}' for c in labs))
            f.write('\n'.join(lines) + '\n')


def child_read(folder):
    sys.path.insert(0, ROOT)
    import numpy as np  # noqa: F401
    from timm_ml.data import read_label_set
    base = peak_rss_mb()
    start = time.perf_counter()
    ls = read_label_set(None, os.path.join(folder, 'train.tsv'))
    took = time.perf_counter() - start
    t = ls.targets
    print(f'read: {len(ls)} images x {ls.num_classes} classes, {len(t.indices)} labels in {took:.2f} s; '
          f'peak RSS {peak_rss_mb():.0f} MB ({peak_rss_mb() - base:.0f} MB above the interpreter + numpy); '
          f'targets {(t.indptr.nbytes + t.indices.nbytes + t.values.nbytes) / 2**20:.0f} MB')


def child_eval(images, classes):
    sys.path.insert(0, ROOT)
    import torch
    from timm_ml.metrics import compute_multilabel_metrics
    g = torch.Generator().manual_seed(0)
    target = torch.empty(images, classes, dtype=torch.int8)
    logits = torch.empty(images, classes, dtype=torch.float16)
    rows = 1000  # small generation chunks keep the peak for the metrics themselves
    for r in range(0, images, rows):
        u = torch.rand(min(rows, images - r), classes, generator=g)
        t = (u < 0.0005).to(torch.int8)
        t[u > 0.7] = -1
        target[r:r + rows] = t
        logits[r:r + rows] = (torch.randn(u.shape, generator=g) + 3 * t.float()).half()
    base = peak_rss_mb()
    start = time.perf_counter()
    result = compute_multilabel_metrics(logits, target)
    took = time.perf_counter() - start
    print(f'eval: masked mAP + CP..OF1 + top-3 of {images} x {classes} (float16 logits, int8 targets, '
          f'{(logits.numel() * 3) / 2**30:.1f} GB of inputs) in {took:.1f} s; mAP {result.summary["map"]:.2f}, '
          f'{len(result.excluded)} classes without a known positive; peak RSS {peak_rss_mb():.0f} MB '
          f'({peak_rss_mb() - base:.0f} MB above the inputs)')
    part = min(classes, 1000)
    times, results = [], []
    for scores in (logits[:, :part].contiguous(), logits[:, :part].float()):
        start = time.perf_counter()
        results.append(compute_multilabel_metrics(scores, target[:, :part].contiguous()))
        times.append(time.perf_counter() - start)
    (fast, slow), (a, b) = times, results
    diff = max(abs(x['ap'] - y['ap']) for x, y in zip(a.per_class, b.per_class) if x['positives'])
    print(f'eval of the first {part} classes: float16 histogram path {fast:.1f} s, the same values as float32 '
          f'(bucketing path) {slow:.1f} s ({slow / fast:.1f}x); largest per-class AP difference {diff:.1e}')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=1000000)
    parser.add_argument('--classes', type=int, default=10000)
    parser.add_argument('--labels', type=float, default=5)
    parser.add_argument('--eval-images', type=int, default=200000)
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--folder', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == 'read':
        return child_read(args.folder)
    if args.child == 'eval':
        return child_eval(args.eval_images, args.classes)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_tsv(tmp, args.images, args.classes, args.labels)
        size = os.path.getsize(os.path.join(tmp, 'train.tsv')) / 2**20
        print(f'wrote a {size:.0f} MB TSV ({args.images} images, {args.classes} classes) in '
              f'{time.perf_counter() - start:.1f} s')
        subprocess.run([sys.executable, __file__, '--child', 'read', '--folder', tmp], check=True)
    if args.eval_images:
        subprocess.run([sys.executable, __file__, '--child', 'eval', '--eval-images', str(args.eval_images),
                        '--classes', str(args.classes)], check=True)


if __name__ == '__main__':
    main()
