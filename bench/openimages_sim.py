""" A simulated OpenImages run at 1/100 scale, end to end on this machine: the V6 layout, converted to shards, read,
trained on two nodes, evaluated with the sparse and class-sliced evaluator, and extrapolated to full size.

    python bench/openimages_sim.py [--images 90000 --classes 2000 --val-images 10000]

1. Writes an OpenImages V6 root: `train/<ImageID>.jpg` (32 px JPEGs), `train-annotations-human-imagelabels.csv`
   (ImageID, Source, LabelName, Confidence) with V6's rates per image (~2.2 positives, ~4.4 verified negatives, every
   other class unknown: 99.7% of the entries), `oidv6-class-descriptions.csv`; the same for `validation`. An image's
   colour encodes its first positive class, so the model has something to learn.
2. `python -m timm_ml.data.to_shards <root> --out <root>/shards --verify` (time).
3. Reads the same training images through the same loader (same transforms, batch, workers) from the folder and from
   the shards: images per second of each (target: shards >= 1.0x folder).
4. Trains test_resnet one epoch from the shards on two gloo processes launched as two nodes on loopback
   (`NNODES=2 NODE_RANK=0|1 ./distributed_train.sh 1 ...`): wall time and images per second.
5. validate.py on the validation shards: dense storage, sparse (known entries only) in one process, and sparse with
   class-sliced scoring on 2 processes: wall time and peak RSS of each (the metrics must agree to 1e-6).
6. Extrapolates to OpenImages V6 train (9M images) and validation (41,620 images x 9,605 trainable classes).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_TRAIN, FULL_VAL, FULL_CLASSES = 9_000_000, 41_620, 9_605
POSITIVES, NEGATIVES = 2.2, 4.4  # per image, V6 human-verified image-level labels


def build_split(root, split, images, classes, rng, palette):
    from PIL import Image
    folder = os.path.join(root, split)
    os.makedirs(folder, exist_ok=True)
    rows = []
    for i in range(images):
        image_id = f'{split[:2]}{i:08x}'
        pos = rng.choice(classes, max(1, rng.poisson(POSITIVES)), replace=False)
        neg = np.setdiff1d(rng.choice(classes, rng.poisson(NEGATIVES) + 1, replace=False), pos)
        rows += [(image_id, 'verification', f'/m/{c:05d}', 1) for c in pos]
        rows += [(image_id, 'verification', f'/m/{c:05d}', 0) for c in neg]
        path = os.path.join(folder, image_id + '.jpg')
        if not os.path.isfile(path):
            pixels = np.clip(palette[pos[0]][None, None, :] + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
    pd.DataFrame(rows, columns=['ImageID', 'Source', 'LabelName', 'Confidence']).to_csv(
        os.path.join(root, f'{split}-annotations-human-imagelabels.csv'), index=False)


def build(root, images, val_images, classes):
    if os.path.isfile(os.path.join(root, 'validation-annotations-human-imagelabels.csv')):
        return
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (classes, 3)).astype(np.float32)
    pd.DataFrame({'LabelName': [f'/m/{c:05d}' for c in range(classes)],
                  'DisplayName': [f'class {c}' for c in range(classes)]}).to_csv(
        os.path.join(root, 'oidv6-class-descriptions.csv'), index=False)
    build_split(root, 'train', images, classes, rng, palette)
    build_split(root, 'validation', val_images, classes, rng, palette)


def timed(cmd, env=None, log=None):
    """(seconds, peak RSS MB of the largest process) of a command (GNU time's maximum resident set size)."""
    start = time.time()
    with tempfile.NamedTemporaryFile('r', suffix='.time') as t:
        with open(log or os.devnull, 'w') as out:
            subprocess.run(['/usr/bin/time', '-o', t.name, '-f', '%M'] + cmd, cwd=ROOT, check=True, stdout=out,
                           stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS='1', **(env or {})))
        peak = int(t.read().split()[-1]) / 1024
    return time.time() - start, peak


def read_rate(root, shards, limit, batch, workers):
    """Images per second of one pass over the first `limit` training images, from the folder and from the shards."""
    code = f"""
import sys, time, json
sys.path.insert(0, {ROOT!r})
from timm_ml.data import MultiLabelDataset, create_ml_loader, eval_loader_kwargs, read_label_set, LabelOptions
from timm_ml.data.streams import StreamDataset, read_stream_split
cfg = dict(input_size=(3, 32, 32), interpolation='bilinear', mean=(0.5,) * 3, std=(0.5,) * 3, crop_pct=1.0)
kw = eval_loader_kwargs(cfg, {batch}, {workers}, False, 'cpu', False, False)
out = {{}}
folder = read_label_set({root!r}, 'train', 'openimages', LabelOptions(), log=False).subset(range({limit}))
stream = read_stream_split({shards!r}, 'train')
for name, ds in (('folder', MultiLabelDataset(folder)), ('shards', StreamDataset(stream, batch_size={batch}))):
    start, seen = time.time(), 0
    for x, y in create_ml_loader(ds, **kw):
        seen += len(x)
        if seen >= {limit}:
            break
    out[name] = seen / (time.time() - start)
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=90000)
    parser.add_argument('--val-images', type=int, default=10000)
    parser.add_argument('--classes', type=int, default=2000)
    parser.add_argument('--read-images', type=int, default=20000, help='images timed in the read comparison')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--root', default=os.path.join(ROOT, 'data', 'openimages_sim'))
    args = parser.parse_args()
    root, shards = args.root, os.path.join(args.root, 'shards')
    out = os.path.join(ROOT, 'output', 'openimages_sim')
    os.makedirs(root, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    build(root, args.images, args.val_images, args.classes)
    print(f'1. OpenImages V6 layout: {args.images} train / {args.val_images} validation images, {args.classes} '
          f'classes ({time.time() - t0:.0f} s)', flush=True)
    if not os.path.isfile(os.path.join(shards, '_info.json')):
        convert, _ = timed([sys.executable, '-m', 'timm_ml.data.to_shards', root, '--out', shards, '--splits', 'train',
                            'validation', '--shard-size', '5000', '--verify'], log=os.path.join(out, 'to_shards.log'))
        print(f'2. to_shards --verify: {convert:.0f} s ({(args.images + args.val_images) / convert:.0f} images/s, '
              'written and re-read)', flush=True)
    rates = read_rate(root, shards, min(args.read_images, args.images), 256, args.workers)
    print(f'3. read {min(args.read_images, args.images)} images, {args.workers} workers, batch 256: folder '
          f'{rates["folder"]:.0f} img/s, shards {rates["shards"]:.0f} img/s (shards / folder '
          f'{rates["shards"] / rates["folder"]:.2f}x)', flush=True)
    train_args = [os.path.join(ROOT, 'distributed_train.sh'), '1', shards, '--dataset', f'wds/{shards}',
                  '--val-split', 'validation', '--model', 'test_resnet', '--input-size', '3', '32', '32', '-b', '128',
                  '-j', str(args.workers), '--epochs', '1', '--opt', 'adamw', '--lr', '3e-3', '--warmup-epochs', '0',
                  '--loss', 'bce', '--output', out, '--log-interval', '50']
    run_dir = os.path.join(out, 'two_nodes')
    shutil.rmtree(run_dir, ignore_errors=True)
    env = dict(NNODES='2', MASTER_ADDR='127.0.0.1', MASTER_PORT='29517')
    start = time.time()
    nodes = [subprocess.Popen(train_args + ['--experiment', 'two_nodes'], cwd=ROOT, stdout=open(
        os.path.join(out, f'node{r}.log'), 'w'), stderr=subprocess.STDOUT, env=dict(os.environ, NODE_RANK=str(r),
                                                                                OMP_NUM_THREADS='1', **env))
             for r in (0, 1)]
    codes = [n.wait() for n in nodes]
    train_time = time.time() - start
    if any(codes):
        sys.exit(f'error: the two-node run failed ({codes}); see {out}/node0.log, node1.log')
    summary = pd.read_csv(os.path.join(run_dir, 'summary.csv'))
    print(f'4. one epoch on 2 nodes x 1 gloo process from shards: {train_time:.0f} s including evaluation '
          f'({args.images / train_time:.0f} train images/s overall), val mAP {summary.eval_map.iloc[-1]:.2f}',
          flush=True)
    ck = os.path.join(run_dir, 'last.pth.tar')
    results = {}
    for name, cmd, extra in (
            ('dense, 1 process', [sys.executable, 'validate.py'], ['--eval-storage', 'dense']),
            ('sparse, 1 process', [sys.executable, 'validate.py'], []),
            ('sparse + class-sliced, 2 processes', ['torchrun', '--standalone', '--nproc_per_node=2', 'validate.py'],
             [])):
        result_file = os.path.join(out, f'val_{len(results)}.json')
        seconds, peak = timed(cmd + [shards, '--dataset', f'wds/{shards}', '--split', 'validation', '--checkpoint', ck,
                                     '-b', '256', '-j', str(args.workers), '--results-file', result_file, *extra],
                              log=os.path.join(out, f'val_{len(results)}.log'))
        results[name] = dict(seconds=seconds, peak_mb=peak, metrics=json.load(open(result_file)))
    base = results['dense, 1 process']['metrics']
    for name, r in results.items():
        diff = max(abs(r['metrics'][k] - base[k]) for k in ('map', 'CF1', 'OF1'))
        print(f'5. validate, {name}: {r["seconds"]:.0f} s, peak RSS {r["peak_mb"]:.0f} MB, mAP {r["metrics"]["map"]:.4f}'
              f' (max |diff| vs dense {diff:.1e})', flush=True)
    known_per_image = POSITIVES + NEGATIVES + 0.5
    dense_gb = FULL_VAL * FULL_CLASSES * 5 / 1e9  # float32 logit + int8 target per entry
    sparse_gb = FULL_VAL * known_per_image * 17 / 1e9  # score 4 + target 1 + row 8 + column 4 bytes per known entry
    print('6. extrapolation to OpenImages V6 (assumes the per-image costs measured here scale linearly; 32 px images '
          'here, so a real 224 px run is bound by decoding and the model, not by reading):')
    print(f'   reading 9M training images from shards at the rate above: {FULL_TRAIN / rates["shards"] / 3600:.1f} h '
          f'per epoch per {args.workers} workers; training at this rate on these 2 processes: '
          f'{FULL_TRAIN / (args.images / train_time) / 3600:.1f} h per epoch (scale out by nodes)')
    print(f'   evaluation storage of validation ({FULL_VAL} x {FULL_CLASSES}): dense {dense_gb:.2f} GB, known entries '
          f'only {sparse_gb * 1000:.1f} MB ({known_per_image:.1f} known per image); class-sliced scoring divides the '
          'scoring work and memory by the world size')


if __name__ == '__main__':
    main()
