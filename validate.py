#!/usr/bin/env python3
""" timm_ml validation script

timm's validate.py for multi-label checkpoints. The model, its classes, head, data config and the label-parsing
options used in training come from the checkpoint alone; timm's flags override the data config where given:

    python validate.py data/fmnist_mosaic --model efficientnet_b2 --checkpoint output/train/<exp>/model_best.pth.tar -b 64

Prints `* mAP <percent> ...` like timm's top-1 line, writes --results-file (csv or json, --results-format) and a
per-class CSV beside it. `--checkpoint` may be a folder: every *.pth.tar in it is evaluated. Runs under torchrun
(exact gathered metrics).
"""
import argparse
import csv
import glob
import json
import logging
import os

import numpy as np
import torch
from timm import utils
from timm.layers import set_fast_norm
from timm.task import evaluation_sample_limit
from timm.utils import ParseKwargs, reparameterize_model

from timm_ml.data import (LABEL_FORMATS, MultiLabelDataset, attributes_of, create_label_set, create_ml_loader, eval_loader_kwargs,
                          label_options, read_class_list)
from timm_ml.eval_loop import run_evaluation
from timm_ml.loss import create_ml_loss, loss_kwargs
from timm_ml.metrics import MultiLabelEvaluator, estimate_thresholds, save_thresholds
from timm_ml.report import write_per_class_report
from timm_ml.utils import ML_CONFIG_KEY, class_difference, load_model_from_checkpoint, save_checkpoint_atomic
from timm_ml.utils.amp import resolve_amp

_logger = logging.getLogger('validate')

parser = argparse.ArgumentParser(description='timm_ml multi-label validation')
parser.add_argument('data', nargs='?', metavar='DIR', const=None,
                    help='path to dataset (folder with <split>.{json,csv,tsv})')
parser.add_argument('--data-dir', metavar='DIR', help='path to dataset (root dir)')
parser.add_argument('--dataset', metavar='NAME', default='',
                    help='dataset type + name; empty: label files in the data folder (the only kind read)')
parser.add_argument('--split', metavar='NAME', default='val', help='split or label file (default: val)')
parser.add_argument('--num-samples', default=None, type=int, metavar='N',
                    help='evaluate only the first N images of the split')
parser.add_argument('--dataset-download', action='store_true', default=False, help='not supported (no downloads)')
parser.add_argument('--class-map', default='', type=str, metavar='FILENAME',
                    help='class list file; must equal the checkpoint\'s classes (checked)')
parser.add_argument('--input-key', default=None, type=str, help='not supported (Hugging Face datasets)')
parser.add_argument('--input-img-mode', default=None, type=str,
                    help='Dataset image conversion mode for input images (default: RGB, L for 1 channel).')
parser.add_argument('--target-key', default=None, type=str, help='not supported (Hugging Face datasets)')
parser.add_argument('--dataset-trust-remote-code', action='store_true', default=False,
                    help='not supported (Hugging Face datasets)')

parser.add_argument('--model', '-m', metavar='NAME', default=None,
                    help='model architecture; checked against the checkpoint\'s (default: the checkpoint\'s)')
parser.add_argument('--pretrained', dest='pretrained', action='store_true',
                    help='not supported: the weights come from --checkpoint')
parser.add_argument('-j', '--workers', default=2, type=int, metavar='N', help='data loading workers (default: 2)')
parser.add_argument('-b', '--batch-size', default=64, type=int, metavar='N', help='mini-batch size (default: 64)')
parser.add_argument('--img-size', default=None, type=int, metavar='N',
                    help='Input image dimension (default: the training size)')
parser.add_argument('--in-chans', type=int, default=None, metavar='N',
                    help='Image input channels; checked against the checkpoint\'s')
parser.add_argument('--input-size', default=None, nargs=3, type=int, metavar='N',
                    help='Input all image dimensions (d h w, e.g. --input-size 3 224 224) (default: the training size)')
parser.add_argument('--use-train-size', action='store_true', default=False,
                    help='use the training input size (the default: checkpoints hold it)')
parser.add_argument('--crop-pct', default=None, type=float, metavar='N', help='Input image center crop pct')
parser.add_argument('--crop-mode', default=None, type=str, metavar='N',
                    help='Input image crop mode (squash, border, center). Training\'s if None.')
parser.add_argument('--crop-border-pixels', type=int, default=None, help='Crop pixels from image border.')
parser.add_argument('--mean', type=float, nargs='+', default=None, metavar='MEAN',
                    help='Override mean pixel value of dataset')
parser.add_argument('--std', type=float, nargs='+', default=None, metavar='STD',
                    help='Override std deviation of of dataset')
parser.add_argument('--interpolation', default='', type=str, metavar='NAME',
                    help='Image resize interpolation type (overrides the training one)')
parser.add_argument('--num-classes', type=int, default=None, help='Number of classes; checked against the checkpoint')
parser.add_argument('--gp', default=None, type=str, metavar='POOL',
                    help='Global pool type override, one of (fast, avg, max, avgmax, avgmaxc).')
parser.add_argument('--log-freq', '--log-interval', dest='log_interval', default=50, type=int, metavar='N',
                    help='batch logging frequency (default: 50)')
parser.add_argument('--checkpoint', required=True, type=str, metavar='PATH',
                    help='timm_ml checkpoint, or a folder of them')
parser.add_argument('--num-gpu', type=int, default=1, help='must be 1: use torchrun for several GPUs')
parser.add_argument('--test-pool', dest='test_pool', action='store_true',
                    help='not supported (test-time pooling of single-label models)')
parser.add_argument('--no-prefetcher', action='store_true', default=False, help='disable fast prefetcher')
parser.add_argument('--pin-mem', action='store_true', default=False,
                    help='Pin CPU memory in DataLoader for more efficient (sometimes) transfer to GPU.')
parser.add_argument('--channels-last', action='store_true', default=False, help='Use channels_last memory layout')
parser.add_argument('--device', default=None, type=str, help='Device (default: cuda if available, else cpu)')
parser.add_argument('--amp', action='store_true', default=False, help='mixed precision (bfloat16 on CPU)')
parser.add_argument('--amp-dtype', default='float16', type=str, help='AMP dtype on CUDA (default: float16)')
parser.add_argument('--model-dtype', default=None, type=str,
                    help='Model dtype override (non-AMP) (default: float32)')
parser.add_argument('--tf-preprocessing', action='store_true', default=False, help='not supported')
ema_group = parser.add_mutually_exclusive_group()
ema_group.add_argument('--use-ema', dest='use_ema', action='store_true',
                       help='use the EMA weights (an error if the checkpoint has none); EMA is preferred anyway')
ema_group.add_argument('--no-ema', action='store_true', default=False,
                       help='use the raw weights even when the checkpoint has EMA weights')
parser.add_argument('--fuser', default='', type=str, help="Select jit fuser. One of ('', 'te', 'old', 'nvfuser')")
parser.add_argument('--fast-norm', default=False, action='store_true', help='enable experimental fast-norm')
parser.add_argument('--reparam', default=False, action='store_true', help='Reparameterize model')
parser.add_argument('--model-kwargs', nargs='*', default={}, action=ParseKwargs)
parser.add_argument('--torchcompile-mode', type=str, default=None, help="torch.compile mode (default: None).")
scripting_group = parser.add_mutually_exclusive_group()
scripting_group.add_argument('--torchscript', default=False, action='store_true',
                             help='not supported; use --torchcompile')
scripting_group.add_argument('--torchcompile', nargs='?', type=str, default=None, const='inductor',
                             help="Enable compilation w/ specified backend (default: inductor).")
scripting_group.add_argument('--aot-autograd', default=False, action='store_true', help='not supported')
parser.add_argument('--results-file', default='', type=str, metavar='FILENAME',
                    help='write results here (per-class CSV beside it)')
parser.add_argument('--results-format', default=None, type=str, choices=('csv', 'json'),
                    help='results file format (default: from the --results-file extension, else json)')
parser.add_argument('--real-labels', default='', type=str, metavar='FILENAME', help='not supported (ImageNet only)')
parser.add_argument('--valid-labels', default='', type=str, metavar='FILENAME',
                    help='not supported: evaluate a class subset by training on it')
parser.add_argument('--retry', default=False, action='store_true',
                    help='on out-of-memory, halve the batch size and retry')
parser.add_argument('--seed', type=int, default=42, metavar='S', help='random seed (default: 42)')
parser.add_argument('--metrics-avg', type=str, default=None, choices=['micro', 'macro'],
                    help='which F1 family the summary line shows: micro (OP, OR, OF1) or macro (CP, CR, CF1); '
                         'both are always computed')
parser.add_argument('--naflex-loader', action='store_true', default=False, help='not supported')
parser.add_argument('--naflex-max-seq-len', type=int, default=None, help='not supported')

group = parser.add_argument_group('Multi-label parameters')
group.add_argument('--label-format', default=None, choices=LABEL_FORMATS,
                   help='label layout (default: the one training used, else auto)')
group.add_argument('--label-delimiter', default=None, type=str,
                   help='separator inside a label-list cell (default: the one training used)')
group.add_argument('--unknown-values', default=None, nargs='+', metavar='VALUE',
                   help='more cell spellings meaning "not annotated" (default: the ones training used)')
group.add_argument('--image-dir', default=None, type=str, metavar='DIR',
                   help='folder the image paths are relative to (default: beside the label file / its images/)')
group.add_argument('--path-column', default=None, type=str, help='CSV column with image paths (default: training\'s)')
group.add_argument('--labels-column', default=None, type=str,
                   help='CSV column with label lists (default: training\'s)')
group.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                   help='unreadable images / malformed label rows: error (default) or counted skip')
group.add_argument('--threshold', type=float, default=None,
                   help='global probability threshold; overrides saved per-class thresholds (default: 0.5)')
group.add_argument('--thresholds', default=None, type=str,
                   help='per-class thresholds .npy (default: the ones saved in the checkpoint, if any)')
group.add_argument('--estimate-thresholds', action='store_true', default=False,
                   help='estimate per-class F1-optimal thresholds on this split (use a held-out split) and save '
                        'thresholds.npy / .csv and a checkpoint copy holding them')
group.add_argument('--topk', type=int, default=3, help='k of the top-k metrics (default: 3)')
group.add_argument('--store-dtype', default='float32', choices=('float32', 'float16'),
                   help='dtype logits are kept in until the metrics are computed (float16 halves memory)')
group.add_argument('--store-device', default='auto', choices=('auto', 'cpu', 'device'),
                   help='where logits are kept and metrics computed: auto = on the GPU when evaluating on one')

NOT_SUPPORTED = {
    'dataset_download': '--dataset-download', 'input_key': '--input-key', 'target_key': '--target-key',
    'dataset_trust_remote_code': '--dataset-trust-remote-code', 'pretrained': '--pretrained (weights come from '
    '--checkpoint)', 'test_pool': '--test-pool', 'tf_preprocessing': '--tf-preprocessing', 'torchscript':
    '--torchscript (use --torchcompile)', 'aot_autograd': '--aot-autograd', 'real_labels': '--real-labels (ImageNet '
    'only)', 'valid_labels': '--valid-labels', 'naflex_loader': '--naflex-loader', 'naflex_max_seq_len':
    '--naflex-max-seq-len',
}


def check_args(args):
    given = [flag for name, flag in NOT_SUPPORTED.items() if getattr(args, name)]
    if args.dataset:
        given.append(f'--dataset {args.dataset} (label files in the data folder are read)')
    if args.num_gpu != 1:
        given.append('--num-gpu (use torchrun --nproc_per_node N validate.py ...)')
    if given:
        parser.error('not available for multi-label validation: ' + ', '.join(given))


def data_config_for(args, config):
    """The checkpoint's data config with timm's preprocessing flags applied."""
    data_config = dict(config['data_config'])
    in_chans = data_config['input_size'][0]
    if args.in_chans is not None and args.in_chans != in_chans:
        parser.error(f'--in-chans {args.in_chans}: the checkpoint was trained on {in_chans} channels')
    if args.input_size is not None:
        if args.input_size[0] != in_chans:
            parser.error(f'--input-size {args.input_size}: the checkpoint was trained on {in_chans} channels')
        data_config['input_size'] = list(args.input_size)
    elif args.img_size is not None:
        data_config['input_size'] = [in_chans, args.img_size, args.img_size]
    for name in ('crop_pct', 'crop_mode', 'mean', 'std', 'crop_border_pixels'):
        if getattr(args, name) is not None:
            data_config[name] = getattr(args, name)
    if args.interpolation:
        data_config['interpolation'] = args.interpolation
    return data_config


def check_model(args, config, path):
    classes = config['classes']
    if args.model and args.model != config['model']:
        parser.error(f'--model {args.model}: {path} holds a {config["model"]} ({config["ml_head"]} head)')
    if args.num_classes is not None and args.num_classes != len(classes):
        parser.error(f'--num-classes {args.num_classes}: {path} has {len(classes)} classes')
    if args.class_map:
        difference = class_difference(classes, read_class_list(args.class_map))
        if difference:
            parser.error(f'--class-map {args.class_map} differs from the classes of {path}: {difference}')


def validate_checkpoint(args, checkpoint_path, device):
    timm_kwargs = dict(args.model_kwargs, **({'global_pool': args.gp} if args.gp else {}))
    model, config, checkpoint = load_model_from_checkpoint(
        checkpoint_path, use_ema=not args.no_ema, require_ema=args.use_ema, timm_kwargs=timm_kwargs)
    check_model(args, config, checkpoint_path)
    model_dtype = getattr(torch, args.model_dtype) if args.model_dtype else None
    if args.reparam:
        model = reparameterize_model(model)
    model.to(device=device, dtype=model_dtype)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    if args.torchcompile:
        model = torch.compile(model, backend=args.torchcompile, mode=args.torchcompile_mode)
    classes = config['classes']
    group_sizes = config.get('group_sizes')
    data_config = data_config_for(args, config)
    labels = create_label_set(
        args.data or args.data_dir, args.split, classes=classes, attributes=attributes_of(classes, group_sizes),
        image_dir=args.image_dir, on_bad=args.bad_images, **label_options(args, config))
    if labels.classes != classes:
        raise ValueError(f'{labels.source} ({labels.format}) does not hold the classes of {checkpoint_path}: '
                         f'{class_difference(classes, labels.classes)}')
    if args.num_samples:
        labels = labels.subset(range(min(args.num_samples, len(labels))))
    img_mode = args.input_img_mode or ('RGB' if data_config['input_size'][0] == 3 else 'L')
    dataset = MultiLabelDataset(labels, bad_images=args.bad_images, img_mode=img_mode)
    prefetcher = not args.no_prefetcher
    loader_kwargs = eval_loader_kwargs(data_config, args.batch_size, args.workers, args.distributed, device,
                                       args.pin_mem, prefetcher, model_dtype)
    if data_config.get('crop_border_pixels') is not None:
        loader_kwargs['crop_border_pixels'] = data_config['crop_border_pixels']
    loader = create_ml_loader(dataset, **loader_kwargs)

    thresholds = None
    if args.thresholds:
        thresholds = torch.as_tensor(np.load(args.thresholds))
    elif config.get('thresholds') is not None and args.threshold is None:
        thresholds = torch.tensor(config['thresholds'])
    if thresholds is not None and len(thresholds) != len(classes):
        raise ValueError(f'{len(thresholds)} thresholds for {len(classes)} classes')
    train_args = checkpoint.get('args')
    loss_type = config.get('loss') or getattr(train_args, 'loss', None) or \
        {'attributes': 'ce', 'cosine': 'aam'}.get(config['ml_head'], 'bce')
    criterion = None if loss_type == 'db' else create_ml_loss(
        loss_type, classes=classes, group_sizes=group_sizes,
        **({} if train_args is None else loss_kwargs(train_args, evaluation=True)))
    evaluator = MultiLabelEvaluator(
        device, max_samples=evaluation_sample_limit(loader), criterion=criterion, classes=classes,
        group_sizes=group_sizes, group_names=config.get('attribute_names'),
        threshold=args.threshold if args.threshold is not None else 0.5, thresholds=thresholds, topk=args.topk,
        store_dtype=getattr(torch, args.store_dtype), store_device=args.store_device)
    amp_autocast, _, notice = resolve_amp(args.amp, args.amp_dtype, device)
    if notice and utils.is_primary(args):
        _logger.info(notice)
    metrics = run_evaluation(model, loader, evaluator, device, amp_autocast, args.channels_last, args.distributed,
                             args.log_interval, is_primary=utils.is_primary(args), prefetcher=prefetcher,
                             model_dtype=model_dtype)
    result = evaluator.result

    if args.estimate_thresholds and utils.is_primary(args):
        from timm_ml.metrics import compute_multilabel_metrics
        logits, target = evaluator.gathered(args.distributed)
        logits, target = logits.cpu(), target.cpu()
        estimated = estimate_thresholds(logits.float().sigmoid(), target).float()
        out_dir = os.path.dirname(os.path.abspath(checkpoint_path))
        npy = os.path.join(out_dir, 'thresholds.npy')
        csv_path = save_thresholds(npy, classes, estimated.numpy())
        task_state = dict(checkpoint.get('task_state') or {})
        task_state[ML_CONFIG_KEY] = dict(config, thresholds=estimated.tolist())
        checkpoint['task_state'] = task_state
        checkpoint.pop(ML_CONFIG_KEY, None)
        ck_copy = checkpoint_path.replace('.pth.tar', '') + '_thresholds.pth.tar'
        save_checkpoint_atomic(checkpoint, ck_copy)
        tuned = compute_multilabel_metrics(logits, target, classes, group_sizes, config.get('attribute_names'),
                                           0.5, estimated, args.topk)
        for k, v in tuned.summary.items():
            if k.startswith('thr_'):
                metrics[k] = v
        result = tuned
        _logger.info(f'Per-class thresholds written to {npy}, {csv_path} and {ck_copy}')
    metrics = dict(metrics, checkpoint=checkpoint_path, model=config['model'], split=args.split, images=len(dataset),
                   skipped=len(labels.skipped) + len(dataset.skipped), excluded_classes=result.excluded)
    return metrics, result


def validate_with_retry(args, path, device):
    """--retry: halve the batch size after an out-of-memory error, as timm's validate.py."""
    batch_size = args.batch_size
    while True:
        try:
            return validate_checkpoint(args, path, device)
        except torch.OutOfMemoryError:
            if not args.retry or args.batch_size <= 1:
                raise
            args.batch_size = max(1, args.batch_size // 2)
            _logger.warning(f'Out of memory: retrying {path} with batch size {args.batch_size}')
        finally:
            if not args.retry:
                args.batch_size = batch_size


def _summary_line(m, metrics_avg=None):
    line = f"* mAP {m['map']:.3f}"
    if metrics_avg != 'micro':
        line += f"  CP {m['CP']:.3f}  CR {m['CR']:.3f}  CF1 {m['CF1']:.3f}"
    if metrics_avg != 'macro':
        line += f"  OP {m['OP']:.3f}  OR {m['OR']:.3f}  OF1 {m['OF1']:.3f}"
    if 'thr_CF1' in m:
        line += f"  |  per-class thresholds: CF1 {m['thr_CF1']:.3f}  OF1 {m['thr_OF1']:.3f}"
    if 'attr_mean_acc' in m:
        line += f"  |  attribute acc {m['attr_mean_acc']:.3f}"
    return line


def write_results(results_file, metrics, result, results_format=None):
    """The summary as json (with per-attribute metrics) or a one-row csv, and the per-class report (CSV + PNG) beside
    it."""
    results_format = results_format or ('csv' if results_file.endswith('.csv') else 'json')
    if results_format == 'csv':
        row = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
        with open(results_file, 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            w.writeheader()
            w.writerow(row)
    else:
        with open(results_file, 'w') as f:
            json.dump(dict(metrics, attributes=result.attributes), f, indent=2)
    return write_per_class_report(result.per_class, os.path.splitext(results_file)[0],
                                  f'{metrics["checkpoint"]} on {metrics["split"]}')


def list_checkpoints(path):
    """A checkpoint, or every finished *.pth.tar of a folder (temp files of interrupted saves skipped)."""
    if not os.path.isdir(path):
        return [path]
    checkpoints = sorted(p for p in glob.glob(os.path.join(path, '*.pth.tar'))
                         if os.path.basename(p) != 'tmp.pth.tar' and not p.endswith('.tmp'))
    if not checkpoints:
        raise FileNotFoundError(f'No *.pth.tar checkpoints in {path}')
    return checkpoints


def main():
    utils.setup_default_logging()
    args = parser.parse_args()
    check_args(args)
    if not (args.data or args.data_dir):
        parser.error('the dataset folder is required: validate.py <data> --checkpoint CK')
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = utils.init_distributed_device(args)
    utils.random_seed(args.seed, args.rank)
    if args.fuser:
        utils.set_jit_fuser(args.fuser)
    if args.fast_norm:
        set_fast_norm()
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
    checkpoints = list_checkpoints(args.checkpoint)
    all_results = []
    for path in checkpoints:
        metrics, result = validate_with_retry(args, path, device)
        all_results.append(metrics)
        if utils.is_primary(args):
            print(_summary_line(metrics, args.metrics_avg) + (f'  ({path})' if len(checkpoints) > 1 else ''))
            for name, m in result.attributes.items():
                print(f"  {name}: acc {m['acc']:.3f}  balanced acc {m['bacc']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
                      f"(known {m['known']})")
            if args.results_file:
                results_file = args.results_file if len(checkpoints) == 1 else \
                    os.path.splitext(args.results_file)[0] + '_' + os.path.basename(path).replace('.pth.tar', '') + \
                    os.path.splitext(args.results_file)[1]
                write_results(results_file, metrics, result, args.results_format)
    if args.distributed:
        torch.distributed.destroy_process_group()
    return all_results


if __name__ == '__main__':
    main()
