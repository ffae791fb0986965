""" Throughput of train.py's training / evaluation loops vs a plain timm + PyTorch loop, measured in one run.

    python bench/throughput.py [--model resnet18] [--size 64] [--batch-size 64] [--batches 20] [--rounds 3]

Both sides get the same model, the same in-memory batches and the same batch size; rounds alternate A/B to share
the machine's noise, and the medians give the ratios. Also: data loading alone (real PNG decoding + transforms
through timm's loader) vs the model step alone.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import train as train_script  # noqa: E402
from timm.optim import create_optimizer_v2  # noqa: E402

from timm_ml.loss import create_ml_loss  # noqa: E402
from timm_ml.metrics import MultiLabelEvaluator  # noqa: E402
from timm_ml.models import create_ml_model  # noqa: E402


def plain_train(model, batches, loss_fn, optimizer):
    model.train()
    for x, y in batches:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def plain_eval(model, batches):
    model.eval()
    outputs = []
    with torch.inference_mode():
        for x, _ in batches:
            outputs.append(model(x))
    return torch.cat(outputs).sigmoid()


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='resnet18')
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--batches', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--classes', type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    classes = [f'c{i}' for i in range(args.classes)]
    batches = [(torch.randn(args.batch_size, 3, args.size, args.size),
                (torch.rand(args.batch_size, args.classes) < 0.3).float()) for _ in range(args.batches)]
    images = args.batch_size * args.batches

    model = create_ml_model(args.model, classes)
    loss_fn = create_ml_loss('bce')
    train_args = train_script.parser.parse_args(['--log-interval', '1000000'])
    train_args.distributed, train_args.rank, train_args.world_size = False, 0, 1
    opt_ours = create_optimizer_v2(model, 'adamw', lr=1e-4)
    plain_model = create_ml_model(args.model, classes)
    opt_plain = create_optimizer_v2(plain_model, 'adamw', lr=1e-4)
    evaluator = MultiLabelEvaluator('cpu', criterion=loss_fn, classes=classes)

    ours_t, plain_t, ours_e, plain_e = [], [], [], []
    for r in range(args.rounds + 1):  # round 0 warms up
        t1 = timed(lambda: train_script.train_one_epoch(
            0, model, batches, opt_ours, loss_fn, train_args, device=torch.device('cpu')))
        t2 = timed(lambda: plain_train(plain_model, batches, loss_fn, opt_plain))
        e1 = timed(lambda: train_script.validate(model, batches, evaluator, train_args, device=torch.device('cpu')))
        e2 = timed(lambda: plain_eval(plain_model, batches))
        if r:
            ours_t.append(t1), plain_t.append(t2), ours_e.append(e1), plain_e.append(e2)
    med = statistics.median
    print(f'model {args.model} {args.size}px batch {args.batch_size}, {images} images per pass, '
          f'{args.rounds} alternating rounds, torch threads {torch.get_num_threads()}')
    print(f'train: train.py {images / med(ours_t):8.1f} img/s   plain loop {images / med(plain_t):8.1f} img/s   '
          f'ratio {med(plain_t) / med(ours_t):.3f}x')
    print(f'eval : validate {images / med(ours_e):8.1f} img/s   plain loop {images / med(plain_e):8.1f} img/s   '
          f'ratio {med(plain_e) / med(ours_e):.3f}x  (ours includes exact mAP / F1 over the pass)')

    # data loading alone vs the model step alone, on real PNGs through timm's loader
    from fashion_attrs.mosaic import build_mosaic_dataset
    from timm.data import create_loader
    from timm_ml.data import MultiLabelDataset, create_label_set
    with tempfile.TemporaryDirectory() as tmp:
        build_mosaic_dataset(tmp, train=images, val=0, test=0)
        dataset = MultiLabelDataset(create_label_set(tmp, 'train'))
        loader = create_loader(dataset, (3, args.size, args.size), args.batch_size, is_training=True, num_workers=2,
                               use_prefetcher=False, device=torch.device('cpu'), persistent_workers=False)
        load = timed(lambda: [None for _ in loader])
    step = med(plain_t)
    print(f'data : loader alone (2 workers, train transforms) {images / load:8.1f} img/s vs model step alone '
          f'{images / step:8.1f} img/s: loading is {"not " if load < step else ""}the bottleneck '
          f'({step / load:.2f}x the step rate)')


if __name__ == '__main__':
    main()
