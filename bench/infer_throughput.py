""" Batch inference on a folder of images: infer.py's predict() vs its data loader alone, in one run.

    python bench/infer_throughput.py [--images 10000] [--model test_resnet] [--size 56] [-b 64] [-j 2]

Builds a folder of real images (Fashion-MNIST mosaics), a checkpoint of the given model (random weights: speed only),
then times the loader alone (decode + eval transform through the same DataLoader), a plain loop (loader + model +
sigmoid) and the whole predict() (loader, model, scores, bookkeeping). predict / plain near 1: infer.py adds nothing;
predict / loader near 1: inference runs at the loader's speed (on a GPU; on a small CPU the model is the bottleneck).
"""
import argparse
import os
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from timm.data import create_transform  # noqa: E402

import infer  # noqa: E402
from timm_ml.loss import create_ml_loss  # noqa: E402
from timm_ml.models import create_ml_model  # noqa: E402
from timm_ml.task import MultiLabelTask  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=10000)
    parser.add_argument('--model', default='test_resnet')
    parser.add_argument('--size', type=int, default=56)
    parser.add_argument('-b', '--batch-size', type=int, default=64)
    parser.add_argument('-j', '--workers', type=int, default=2)
    args = parser.parse_args()
    data = os.path.join(tempfile.gettempdir(), f'timm_ml_infer_{args.images}')
    if not os.path.isfile(os.path.join(data, 'train.json')):
        from fashion_attrs.mosaic import build_mosaic_dataset
        build_mosaic_dataset(data, train=args.images, val=0, test=0)
    folder = os.path.join(data, 'train')
    root, paths = infer.list_inputs(folder)
    classes = [f'c{i}' for i in range(10)]
    model = create_ml_model(args.model, classes).eval()
    config = dict(model.ml_config, data_config=dict(input_size=[3, args.size, args.size], interpolation='bilinear',
                                                    mean=[0.5] * 3, std=[0.5] * 3, crop_pct=1.0, crop_mode='center'))
    MultiLabelTask(model, create_ml_loss('bce'), config)  # the checkpoint config a real run would carry
    dc = config['data_config']
    transform = create_transform(tuple(dc['input_size']), interpolation=dc['interpolation'], mean=tuple(dc['mean']),
                                 std=tuple(dc['std']), crop_pct=dc['crop_pct'])
    loader = torch.utils.data.DataLoader(infer.ImageList(root, paths, transform), batch_size=args.batch_size,
                                         num_workers=args.workers)
    start = time.perf_counter()
    for _ in loader:
        pass
    load = time.perf_counter() - start
    start = time.perf_counter()
    with torch.inference_mode():
        for x, _, _ in loader:
            model(x).sigmoid()
    plain = time.perf_counter() - start
    start = time.perf_counter()
    scores, errors = infer.predict(model, config, root, paths, args.batch_size, args.workers)
    full = time.perf_counter() - start
    assert scores.shape == (len(paths), len(classes)) and not errors
    print(f'{len(paths)} images, {args.model} {args.size}px, batch {args.batch_size}, {args.workers} workers, '
          f'{torch.get_num_threads()} torch threads')
    print(f'loader alone {len(paths) / load:8.1f} img/s   loader + model (plain loop) {len(paths) / plain:8.1f} img/s   '
          f'infer.py predict {len(paths) / full:8.1f} img/s')
    print(f'predict vs the loader alone {load / full:.3f}x, vs the plain loop {plain / full:.3f}x')


if __name__ == '__main__':
    main()
