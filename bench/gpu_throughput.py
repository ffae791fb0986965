""" Train and eval throughput of train.py's loop vs a plain timm loop, same model, images and batch, in one run.

    python bench/gpu_throughput.py [--model efficientnet_b2] [--size 224] [-b 128] [--amp] [--channels-last] [-j 14]

Runs on CUDA when there is a GPU, else on the CPU. Both sides read the same real images (Fashion-MNIST mosaics written
as PNGs) through timm's loader with the prefetcher (GPU normalisation, async copies) and persistent workers; the
"plain" side is the loop a timm user writes by hand: timm.create_model + BCE + optimizer step. "Ours" is train.py's own
train_one_epoch / validate with the multi-label task (masked loss, EMA-free), its evaluator computing exact mAP / F1 at
the end. Rounds alternate A/B to share the machine's noise; the first `--warmup` steps of every pass are not timed
(cudnn autotuning, worker start); medians give the ratios.
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

import timm  # noqa: E402
import train as train_script  # noqa: E402
from timm.data import create_loader  # noqa: E402
from timm.optim import create_optimizer_v2  # noqa: E402

from timm_ml.data import MultiLabelDataset, read_label_set  # noqa: E402
from timm_ml.loss import create_ml_loss  # noqa: E402
from timm_ml.models import create_ml_model  # noqa: E402
from timm_ml.task import MultiLabelTask  # noqa: E402


class StepTimer:
    """Wraps a loader: counts images and time after the first `warmup` batches (synchronising the device)."""

    def __init__(self, loader, warmup, device):
        self.loader, self.warmup, self.device = loader, warmup, device
        self.images, self.seconds = 0, 0.

    def _sync(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize()

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def __iter__(self):
        start = None
        for i, (x, y) in enumerate(self.loader):
            if i == self.warmup:
                self._sync()
                start = time.perf_counter()
            if i >= self.warmup:
                self.images += x.shape[0]
            yield x, y
        self._sync()
        if start is not None:
            self.seconds += time.perf_counter() - start


def plain_train(model, loader, optimizer, loss_fn, autocast, scaler, channels_last):
    model.train()
    for x, y in loader:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        if scaler is not None:
            scaler(loss, optimizer)
        else:
            loss.backward()
            optimizer.step()
        loss.item()  # timm's loop reads the loss every step too


def plain_eval(model, loader, autocast, channels_last):
    model.eval()
    outputs = []
    with torch.inference_mode():
        for x, _ in loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast():
                outputs.append(model(x))
    return torch.cat(outputs).float().sigmoid().cpu()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='efficientnet_b2')
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('-b', '--batch-size', type=int, default=128)
    parser.add_argument('--images', type=int, default=5120, help='images per pass')
    parser.add_argument('-j', '--workers', type=int, default=min(14, os.cpu_count()))
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--no-cudnn-benchmark', action='store_true')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=5, help='untimed batches at the start of every pass')
    parser.add_argument('--data', default=None, help='mosaic folder to reuse (built if missing)')
    args = parser.parse_args()

    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    data = args.data or os.path.join(tempfile.gettempdir(), f'timm_ml_throughput_{args.images}')
    if not os.path.isfile(os.path.join(data, 'train.json')):
        from fashion_attrs.mosaic import build_mosaic_dataset
        build_mosaic_dataset(data, train=args.images, val=0, test=0)
    labels = read_label_set(data, "train")
    classes = labels.classes

    flags = ['--log-interval', '1000000', '-b', str(args.batch_size)] + (['--amp'] if args.amp else []) + \
        (['--channels-last'] if args.channels_last else [])
    train_args = train_script.parser.parse_args(flags)
    train_args.distributed, train_args.rank, train_args.world_size, train_args.prefetcher = False, 0, 1, True
    train_args.device = device.type
    from timm_ml.utils.amp import resolve_amp
    autocast, scaler_ours, _ = resolve_amp(args.amp, 'float16', device)
    _, scaler_plain, _ = resolve_amp(args.amp, 'float16', device)

    def loaders(training):
        kw = dict(input_size=(3, args.size, args.size), batch_size=args.batch_size, is_training=training,
                  num_workers=args.workers, device=device, use_prefetcher=True, persistent_workers=True,
                  pin_memory=device.type == 'cuda', scale=(0.5, 1.) if training else None, crop_pct=1.0)
        return create_loader(MultiLabelDataset(labels), **kw)

    torch.manual_seed(0)
    ours = create_ml_model(args.model, classes).to(device)
    plain = timm.create_model(args.model, num_classes=len(classes)).to(device)
    if args.channels_last:
        ours.to(memory_format=torch.channels_last)
        plain.to(memory_format=torch.channels_last)
    task = MultiLabelTask(ours, create_ml_loss('bce'), dict(ours.ml_config, data_config={}), device=device,
                          verbose=False)
    opt_ours = create_optimizer_v2(ours, 'adamw', lr=1e-4)
    opt_plain = create_optimizer_v2(plain, 'adamw', lr=1e-4)
    bce = torch.nn.BCEWithLogitsLoss()
    loader_ours_t, loader_plain_t = loaders(True), loaders(True)
    loader_ours_e, loader_plain_e = loaders(False), loaders(False)
    evaluator = task.create_evaluator()

    results = {k: [] for k in ('ours_t', 'plain_t', 'ours_e', 'plain_e')}
    for r in range(args.rounds + 1):  # round 0 warms up (workers, cudnn autotuning)
        timers = {k: StepTimer(l, args.warmup, device) for k, l in (
            ('ours_t', loader_ours_t), ('plain_t', loader_plain_t), ('ours_e', loader_ours_e),
            ('plain_e', loader_plain_e))}
        train_script.train_one_epoch(0, task.get_trainable_module(), timers['ours_t'], opt_ours, train_args,
                                     task=task, device=device, amp_autocast=autocast, loss_scaler=scaler_ours)
        plain_train(plain, timers['plain_t'], opt_plain, bce, autocast, scaler_plain, args.channels_last)
        train_script.validate(ours, timers['ours_e'], evaluator, train_args, device=device, amp_autocast=autocast)
        plain_eval(plain, timers['plain_e'], autocast, args.channels_last)
        if r:
            for k, t in timers.items():
                results[k].append(t.images / t.seconds)
    med = {k: statistics.median(v) for k, v in results.items()}
    name = torch.cuda.get_device_name() if device.type == 'cuda' else f'CPU ({torch.get_num_threads()} threads)'
    print(f'{name}: {args.model} {args.size}px batch {args.batch_size}, amp {args.amp}, channels_last '
          f'{args.channels_last}, {args.workers} workers, {args.images} images per pass, {args.rounds} rounds')
    print(f'train: train.py {med["ours_t"]:8.1f} img/s   plain timm loop {med["plain_t"]:8.1f} img/s   '
          f'ratio {med["ours_t"] / med["plain_t"]:.3f}x')
    print(f'eval : validate {med["ours_e"]:8.1f} img/s   plain timm loop {med["plain_e"]:8.1f} img/s   '
          f'ratio {med["ours_e"] / med["plain_e"]:.3f}x  (loop only; the exact mAP / F1 after it are not timed)')


if __name__ == '__main__':
    main()
