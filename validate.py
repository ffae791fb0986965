#!/usr/bin/env python3
""" timm_ml validation script

Rebuilds the model from the checkpoint alone (classes, head, data config) and evaluates any split:

    python validate.py data/fmnist_mosaic --checkpoint output/train/<exp>/model_best.pth.tar [--split test]

Prints `* mAP <percent> ...` like timm's top-1 line, writes --results-file (json) and a per-class CSV beside it.
`--checkpoint` may be a folder: every *.pth.tar in it is evaluated. Runs under torchrun (exact gathered metrics).
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
from timm.task import evaluation_sample_limit

from timm_ml.data import MultiLabelDataset, create_eval_loader, create_label_set, groups_from_class_names
from timm_ml.eval_loop import run_evaluation
from timm_ml.loss import create_ml_loss, loss_kwargs
from timm_ml.metrics import MultiLabelEvaluator, estimate_thresholds, save_thresholds
from timm_ml.utils import ML_CONFIG_KEY, load_model_from_checkpoint, save_checkpoint_atomic
from timm_ml.utils.amp import resolve_amp

_logger = logging.getLogger('validate')

parser = argparse.ArgumentParser(description='timm_ml multi-label validation')
parser.add_argument('data', nargs='?', metavar='DIR', help='path to dataset (folder with <split>.{json,csv,tsv})')
parser.add_argument('--data-dir', metavar='DIR', help='path to dataset (root dir)')
parser.add_argument('--split', metavar='NAME', default='val', help='split or label file (default: val)')
parser.add_argument('--checkpoint', required=True, type=str, metavar='PATH',
                    help='timm_ml checkpoint, or a folder of them')
parser.add_argument('--no-ema', action='store_true', default=False,
                    help='use the raw weights even when the checkpoint has EMA weights')
parser.add_argument('-b', '--batch-size', default=64, type=int, metavar='N', help='mini-batch size (default: 64)')
parser.add_argument('-j', '--workers', default=2, type=int, metavar='N', help='data loading workers (default: 2)')
parser.add_argument('--device', default=None, type=str, help='Device (default: cuda if available, else cpu)')
parser.add_argument('--amp', action='store_true', default=False, help='mixed precision (bfloat16 on CPU)')
parser.add_argument('--amp-dtype', default='float16', type=str, help='AMP dtype on CUDA (default: float16)')
parser.add_argument('--channels-last', action='store_true', default=False, help='Use channels_last memory layout')
parser.add_argument('--label-delimiter', default=None, type=str, help='separator inside a label-list cell')
parser.add_argument('--path-column', default=None, type=str, help='CSV column with image paths')
parser.add_argument('--labels-column', default=None, type=str, help='CSV column with label lists')
parser.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                    help='unreadable images / malformed label rows: error (default) or counted skip')
parser.add_argument('--threshold', type=float, default=None,
                    help='global probability threshold; overrides saved per-class thresholds (default: 0.5)')
parser.add_argument('--thresholds', default=None, type=str,
                    help='per-class thresholds .npy (default: the ones saved in the checkpoint, if any)')
parser.add_argument('--estimate-thresholds', action='store_true', default=False,
                    help='estimate per-class F1-optimal thresholds on this split (use a held-out split) and save '
                         'thresholds.npy / .csv and a checkpoint copy holding them')
parser.add_argument('--topk', type=int, default=3, help='k of the top-k metrics (default: 3)')
parser.add_argument('--log-interval', default=50, type=int, metavar='N', help='batch logging frequency')
parser.add_argument('--results-file', default='', type=str, metavar='FILENAME',
                    help='write results json here (per-class CSV beside it)')
parser.add_argument('--store-dtype', default='float32', choices=('float32', 'float16'),
                    help='dtype logits are kept in until the metrics are computed (float16 halves memory)')


def validate_checkpoint(args, checkpoint_path, device):
    model, config, checkpoint = load_model_from_checkpoint(checkpoint_path, use_ema=not args.no_ema)
    model.to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    classes = config['classes']
    group_sizes = config.get('group_sizes')
    attributes = groups_from_class_names(classes) if group_sizes else None
    labels = create_label_set(
        args.data or args.data_dir, args.split, classes=classes, attributes=attributes,
        label_delimiter=args.label_delimiter, path_column=args.path_column, labels_column=args.labels_column,
        on_bad=args.bad_images)
    dataset = MultiLabelDataset(labels, bad_images=args.bad_images)
    loader = create_eval_loader(dataset, config['data_config'], args.batch_size, args.workers, args.distributed,
                                device)

    thresholds = None
    if args.thresholds:
        thresholds = torch.as_tensor(np.load(args.thresholds))
    elif config.get('thresholds') is not None and args.threshold is None:
        thresholds = torch.tensor(config['thresholds'])
    if thresholds is not None and len(thresholds) != len(classes):
        raise ValueError(f'{len(thresholds)} thresholds for {len(classes)} classes')
    train_args = checkpoint.get('args')
    loss_type = getattr(train_args, 'loss', None) or {'attributes': 'ce', 'cosine': 'aam'}.get(config['ml_head'], 'bce')
    criterion = None if loss_type == 'db' else create_ml_loss(
        loss_type, classes=classes, group_sizes=group_sizes,
        **({} if train_args is None else loss_kwargs(train_args, evaluation=True)))
    evaluator = MultiLabelEvaluator(
        device, max_samples=evaluation_sample_limit(loader), criterion=criterion, classes=classes,
        group_sizes=group_sizes, group_names=config.get('attribute_names'),
        threshold=args.threshold if args.threshold is not None else 0.5, thresholds=thresholds, topk=args.topk,
        store_dtype=getattr(torch, args.store_dtype))
    amp_autocast, _, notice = resolve_amp(args.amp, args.amp_dtype, device)
    if notice and utils.is_primary(args):
        _logger.info(notice)
    metrics = run_evaluation(model, loader, evaluator, device, amp_autocast, args.channels_last, args.distributed,
                             args.log_interval, is_primary=utils.is_primary(args))
    result = evaluator.result

    if args.estimate_thresholds and utils.is_primary(args):
        from timm_ml.metrics import compute_multilabel_metrics
        logits, target = evaluator.gathered(args.distributed)
        scores = logits.float().sigmoid()
        estimated = estimate_thresholds(scores, target).float()
        out_dir = os.path.dirname(os.path.abspath(checkpoint_path))
        npy = os.path.join(out_dir, 'thresholds.npy')
        csv_path = save_thresholds(npy, classes, estimated.numpy())
        checkpoint[ML_CONFIG_KEY] = dict(config, thresholds=estimated.tolist())
        ck_copy = checkpoint_path.replace('.pth.tar', '') + '_thresholds.pth.tar'
        save_checkpoint_atomic(checkpoint, ck_copy)
        tuned = compute_multilabel_metrics(logits, target, classes, group_sizes, config.get('attribute_names'),
                                           0.5, estimated, args.topk)
        for k, v in tuned.summary.items():
            if k.startswith('thr_'):
                metrics[k] = v
        result = tuned
        _logger.info(f'Per-class thresholds written to {npy}, {csv_path} and {ck_copy}')
    metrics = dict(metrics, checkpoint=checkpoint_path, split=args.split, images=len(dataset),
                   skipped=len(labels.skipped) + len(dataset.skipped), excluded_classes=result.excluded)
    return metrics, result


def _summary_line(m):
    line = f"* mAP {m['map']:.3f}  CP {m['CP']:.3f}  CR {m['CR']:.3f}  CF1 {m['CF1']:.3f}  " \
           f"OP {m['OP']:.3f}  OR {m['OR']:.3f}  OF1 {m['OF1']:.3f}"
    if 'thr_CF1' in m:
        line += f"  |  per-class thresholds: CF1 {m['thr_CF1']:.3f}  OF1 {m['thr_OF1']:.3f}"
    if 'attr_mean_acc' in m:
        line += f"  |  attribute acc {m['attr_mean_acc']:.3f}"
    return line


def write_results(results_file, metrics, result):
    with open(results_file, 'w') as f:
        json.dump(dict(metrics, attributes=result.attributes), f, indent=2)
    per_class = os.path.splitext(results_file)[0] + '_per_class.csv'
    with open(per_class, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(result.per_class[0].keys()))
        w.writeheader()
        w.writerows(result.per_class)
    return per_class


def main():
    utils.setup_default_logging()
    args = parser.parse_args()
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = utils.init_distributed_device(args)
    if os.path.isdir(args.checkpoint):
        checkpoints = sorted(glob.glob(os.path.join(args.checkpoint, '*.pth.tar')))
        if not checkpoints:
            raise FileNotFoundError(f'No *.pth.tar checkpoints in {args.checkpoint}')
    else:
        checkpoints = [args.checkpoint]
    all_results = []
    for path in checkpoints:
        metrics, result = validate_checkpoint(args, path, device)
        all_results.append(metrics)
        if utils.is_primary(args):
            print(_summary_line(metrics) + (f'  ({path})' if len(checkpoints) > 1 else ''))
            for name, m in result.attributes.items():
                print(f"  {name}: acc {m['acc']:.3f}  balanced acc {m['bacc']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
                      f"(known {m['known']})")
            if args.results_file:
                results_file = args.results_file if len(checkpoints) == 1 else \
                    os.path.splitext(args.results_file)[0] + '_' + os.path.basename(path).replace('.pth.tar', '.json')
                write_results(results_file, metrics, result)
    if args.distributed:
        torch.distributed.destroy_process_group()
    return all_results


if __name__ == '__main__':
    main()
