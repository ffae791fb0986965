#!/usr/bin/env python3
""" timm_ml multi-label validation script

timm's validate.py (huggingface/pytorch-image-models aa4b5850) for multi-label checkpoints. The model, its classes and
schema, head, data config, data root, validation split and label-parsing options come from the checkpoint; timm's
flags override the data config where given. Every change from timm's script is marked `# multi-label:`.

    python validate.py data/fmnist_mosaic --model efficientnet_b2 --checkpoint output/train/<exp>/model_best.pth.tar -b 64

Prints `* mAP ...` (attribute / tree data: `* acc ... bacc ... macro-F1 ...`) like timm's top-1 line, writes
--results-file (csv or json) and a per-class CSV + PNG beside it. `--checkpoint` may be a folder: every *.pth.tar in
it is validated. Runs under torchrun (exact gathered metrics).
"""
import argparse
import csv
import glob
import json
import logging
import os
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.parallel

from timm import utils
from timm.layers import set_fast_norm
from timm.task import evaluation_sample_limit
from timm.utils import natural_key, setup_default_logging, set_jit_fuser, decay_batch_step, check_batch_size_retry, \
    ParseKwargs, reparameterize_model

# multi-label: everything multi-label comes from timm_ml
from timm_ml.data import (MultiLabelDataset, check_per_class, class_difference, create_eval_label_set,
                          create_ml_loader, eval_loader_kwargs, label_formats, read_class_list)
from timm_ml.eval_loop import run_evaluation
from timm_ml.loss import create_ml_losses
from timm_ml.metrics import (MultiLabelEvaluator, compute_multilabel_metrics, estimate_thresholds, read_thresholds,
                             save_thresholds)
from timm_ml.models import load_model_from_checkpoint, scoring_schema
from timm_ml.report import write_per_class_report
from timm_ml.schema import LabelSchema
from timm_ml.scoring import scores_from_logits
from timm_ml.utils import (ML_CONFIG_KEY, check_outputs_are_not_inputs, check_replaceable, run_cli,
                           save_checkpoint_atomic)
from timm_ml.utils.amp import resolve_amp

has_compile = hasattr(torch, 'compile')

_logger = logging.getLogger('validate')


parser = argparse.ArgumentParser(description='timm_ml multi-label validation')
parser.add_argument('data', nargs='?', metavar='DIR', const=None,
                    help='path to dataset (default: the data root the checkpoint was trained on)')
parser.add_argument('--data-dir', metavar='DIR',
                    help='path to dataset (root dir)')
parser.add_argument('--dataset', metavar='NAME', default=None,
                    help='streamed dataset wds/... or hfds/... (default: the checkpoint\'s)')
parser.add_argument('--split', metavar='NAME', default=None,
                    help='dataset split or label file (default: the split validated during training)')
parser.add_argument('--num-samples', default=None, type=int,
                    metavar='N', help='validate only the first N images of the split')
parser.add_argument('--dataset-download', action='store_true', default=False,
                    help='not supported (nothing is downloaded)')
parser.add_argument('--class-map', default='', type=str, metavar='FILENAME',
                    help='class list file; must equal the checkpoint\'s classes (checked)')
parser.add_argument('--input-key', default=None, type=str,
                   help='Dataset key for input images (streamed datasets).')
parser.add_argument('--input-img-mode', default=None, type=str,
                   help='Dataset image conversion mode for input images.')
parser.add_argument('--target-key', default=None, type=str,
                   help='Dataset key for target labels (streamed datasets).')
parser.add_argument('--dataset-trust-remote-code', action='store_true', default=False,
                   help='Allow huggingface dataset import to execute code downloaded from the dataset\'s repo.')

parser.add_argument('--model', '-m', metavar='NAME', default=None,
                    help='model architecture; checked against the checkpoint\'s (default: the checkpoint\'s)')
parser.add_argument('--pretrained', dest='pretrained', action='store_true',
                    help='not supported: the weights come from --checkpoint')
parser.add_argument('-j', '--workers', default=4, type=int, metavar='N',
                    help='number of data loading workers (default: 4)')
parser.add_argument('-b', '--batch-size', default=256, type=int,
                    metavar='N', help='mini-batch size (default: 256)')
parser.add_argument('--img-size', default=None, type=int,
                    metavar='N', help='Input image dimension (default: the training size)')
parser.add_argument('--in-chans', type=int, default=None, metavar='N',
                    help='Image input channels; checked against the checkpoint\'s')
parser.add_argument('--input-size', default=None, nargs=3, type=int, metavar='N',
                    help='Input all image dimensions (d h w, e.g. --input-size 3 224 224) (default: the training size)')
parser.add_argument('--use-train-size', action='store_true', default=False,
                    help='use the training input size (the default: checkpoints hold it)')
parser.add_argument('--crop-pct', default=None, type=float,
                    metavar='N', help='Input image center crop pct')
parser.add_argument('--crop-mode', default=None, type=str,
                    metavar='N', help='Input image crop mode (squash, border, center). Training\'s if None.')
parser.add_argument('--crop-border-pixels', type=int, default=None,
                    help='Crop pixels from image border.')
parser.add_argument('--mean', type=float, nargs='+', default=None, metavar='MEAN',
                    help='Override mean pixel value of dataset')
parser.add_argument('--std', type=float,  nargs='+', default=None, metavar='STD',
                    help='Override std deviation of of dataset')
parser.add_argument('--interpolation', default='', type=str, metavar='NAME',
                    help='Image resize interpolation type (overrides the training one)')
parser.add_argument('--num-classes', type=int, default=None,
                    help='Number classes in dataset; checked against the checkpoint')
parser.add_argument('--gp', default=None, type=str, metavar='POOL',
                    help='Global pool type, one of (fast, avg, max, avgmax, avgmaxc). Model default if None.')
parser.add_argument('--log-freq', '--log-interval', dest='log_freq', default=10, type=int,
                    metavar='N', help='batch logging frequency (default: 10)')
parser.add_argument('--checkpoint', required=True, type=str, metavar='PATH',  # multi-label: the model comes from it
                    help='timm_ml checkpoint, or a folder of them')
parser.add_argument('--num-gpu', type=int, default=1,
                    help='must be 1: use torchrun --nproc_per_node N validate.py ... for several devices')
parser.add_argument('--test-pool', dest='test_pool', action='store_true',
                    help='not supported (test-time pooling of single-label models)')
parser.add_argument('--no-prefetcher', action='store_true', default=False,
                    help='disable fast prefetcher')
parser.add_argument('--pin-mem', action='store_true', default=False,
                    help='Pin CPU memory in DataLoader for more efficient (sometimes) transfer to GPU.')
parser.add_argument('--channels-last', action='store_true', default=False,
                    help='Use channels_last memory layout')
parser.add_argument('--device', default=None, type=str,  # multi-label: None = cuda when available, else cpu
                    help="Device (accelerator) to use (default: cuda if available, else cpu).")
parser.add_argument('--amp', action='store_true', default=False,
                    help='use Native AMP for mixed precision inference (bfloat16 on CPU)')
parser.add_argument('--amp-dtype', default='float16', type=str,
                    help='lower precision AMP dtype (default: float16)')
parser.add_argument('--model-dtype', default=None, type=str,
                   help='Model dtype override (non-AMP) (default: float32)')
parser.add_argument('--tf-preprocessing', action='store_true', default=False,
                    help='not supported')
ema_group = parser.add_mutually_exclusive_group()  # multi-label: EMA weights are preferred when present
ema_group.add_argument('--use-ema', dest='use_ema', action='store_true',
                       help='use the EMA weights (an error if the checkpoint has none); EMA is preferred anyway')
ema_group.add_argument('--no-ema', action='store_true', default=False,
                       help='use the raw weights even when the checkpoint has EMA weights')
parser.add_argument('--fuser', default='', type=str,
                    help="Select jit fuser. One of ('', 'te', 'old', 'nvfuser')")
parser.add_argument('--fast-norm', default=False, action='store_true',
                    help='enable experimental fast-norm')
parser.add_argument('--reparam', default=False, action='store_true',
                    help='Reparameterize model')
parser.add_argument('--model-kwargs', nargs='*', default={}, action=ParseKwargs)
parser.add_argument('--torchcompile-mode', type=str, default=None,
                    help="torch.compile mode (default: None).")

scripting_group = parser.add_mutually_exclusive_group()
scripting_group.add_argument('--torchscript', default=False, action='store_true',
                             help='not supported; use --torchcompile')
scripting_group.add_argument('--torchcompile', nargs='?', type=str, default=None, const='inductor',
                             help="Enable compilation w/ specified backend (default: inductor).")
scripting_group.add_argument('--aot-autograd', default=False, action='store_true',
                             help="not supported")

parser.add_argument('--results-file', default='', type=str, metavar='FILENAME',
                    help='Output file for validation results (summary); the per-class CSV and PNG go beside it')
parser.add_argument('--results-format', default=None, type=str, choices=('csv', 'json'),
                    help='Format for results file (default: from the --results-file extension, else csv).')
parser.add_argument('--real-labels', default='', type=str, metavar='FILENAME',
                    help='not supported (ImageNet only)')
parser.add_argument('--valid-labels', default='', type=str, metavar='FILENAME',
                    help='not supported: evaluate a class subset by training on it')
parser.add_argument('--retry', default=False, action='store_true',
                    help='Enable batch size decay & retry for single model validation')
parser.add_argument('--seed', type=int, default=42, metavar='S',
                    help='random seed (default: 42)')

parser.add_argument('--metrics-avg', type=str, default=None,
                    choices=['micro', 'macro'],
                    help='which F1 family the summary line shows: micro (OP, OR, OF1) or macro (CP, CR, CF1); both are '
                         'always computed')

# NaFlex loader arguments
parser.add_argument('--naflex-loader', action='store_true', default=False,
                   help='not supported')
parser.add_argument('--naflex-max-seq-len', type=int, default=576,
                   help='not supported')

# multi-label: label parsing (defaults: the checkpoint's), thresholds, evaluation storage
group = parser.add_argument_group('Multi-label parameters')
group.add_argument('--label-format', default=None, choices=label_formats(),
                   help='label layout (default: the one training used)')
group.add_argument('--label-delimiter', default=None, type=str,
                   help='separator inside a label-list cell (default: the one training used)')
group.add_argument('--unknown-values', default=None, nargs='+', metavar='VALUE',
                   help='more cell spellings meaning "not annotated" (default: the ones training used)')
group.add_argument('--image-dir', default=None, type=str, metavar='DIR',
                   help='folder the image paths are relative to (default: training\'s, or beside the label file)')
group.add_argument('--path-column', default=None, type=str, help='CSV column with image paths (default: training\'s)')
group.add_argument('--labels-column', default=None, type=str,
                   help='CSV column with label lists (default: training\'s)')
group.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                   help='unreadable images / malformed label rows: error (default) or counted skip')
group.add_argument('--threshold', type=float, default=None,
                   help='global probability threshold; overrides saved per-class thresholds (default: 0.5)')
group.add_argument('--thresholds', default=None, type=str,
                   help='per-class thresholds, .npy or .csv (default: the ones saved in the checkpoint, if any)')
group.add_argument('--estimate-thresholds', action='store_true', default=False,
                   help='estimate per-class F1-optimal thresholds of the multi-label block on this split (use a '
                        'held-out split) and save thresholds.npy / .csv and a checkpoint copy holding them')
group.add_argument('--topk', type=int, default=3, help='k of the top-k metrics (default: 3)')
group.add_argument('--report', default=None, metavar='DIR',
                   help='write the error-analysis page DIR/index.html (PR curves with the operating point, a sortable '
                        'class table, false positive / negative thumbnails, most-confused pairs); static, offline')
group.add_argument('--store-dtype', default='float32', choices=('float32', 'float16'),
                   help='dtype logits are kept in until the metrics are computed (float16 halves memory and, from '
                        '32k images, scores them exactly about 2x faster; ties where float32 values round together)')
group.add_argument('--store-device', default='auto', choices=('auto', 'cpu', 'device'),
                   help='where logits are kept and metrics computed: auto = on the GPU when evaluating on one')
group.add_argument('--eval-storage', default='auto', choices=('auto', 'dense', 'sparse'),
                   help='outputs kept for the metrics: auto = only the known entries when most targets are unknown '
                        '(the same exact metrics in memory proportional to the known entries), dense = every output')
group.add_argument('--debug', action='store_true', default=False,
                   help='show the full traceback of errors (TIMM_ML_DEBUG=1 does the same)')

NOT_SUPPORTED = {
    'dataset_download': '--dataset-download', 'pretrained': '--pretrained (weights come from --checkpoint)',
    'test_pool': '--test-pool', 'tf_preprocessing': '--tf-preprocessing', 'torchscript':
    '--torchscript (use --torchcompile)', 'aot_autograd': '--aot-autograd', 'real_labels': '--real-labels (ImageNet '
    'only)', 'valid_labels': '--valid-labels', 'naflex_loader': '--naflex-loader',
}


def check_args(args):
    """multi-label: timm options without a multi-label meaning stop here, naming them."""
    given = [flag for name, flag in NOT_SUPPORTED.items() if getattr(args, name)]
    if args.num_gpu != 1:
        given.append('--num-gpu (use torchrun --nproc_per_node N validate.py ...)')
    if given:
        parser.error('not available for multi-label validation: ' + ', '.join(given))
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error(f'--threshold {args.threshold}: a probability threshold must be between 0 and 1')
    if args.topk < 1 or args.batch_size < 1:
        parser.error(f'--topk {args.topk} / -b {args.batch_size}: both must be >= 1')
    if args.report and (os.path.isdir(args.checkpoint) or os.environ.get('WORLD_SIZE', '1') != '1'):
        parser.error('--report is written for one checkpoint by one process (no checkpoint folder, no torchrun)')
    if args.estimate_thresholds and os.path.isdir(args.checkpoint):
        parser.error('--estimate-thresholds tunes one checkpoint on one split; --checkpoint names a folder (bulk '
                     'validation): name the checkpoint file')


def results_outputs(results_file, checkpoints=()):
    """Every file --results-file writes: itself and the per-class CSV / PNG beside it (one pair per checkpoint of a
    bulk validation, named as write_results names them)."""
    base = os.path.splitext(results_file)[0]
    prefixes = [base] if len(checkpoints) <= 1 else \
        [base + '_' + os.path.basename(c).replace('.pth.tar', '') for c in checkpoints]
    return [results_file] + [p + suffix for p in prefixes for suffix in ('_per_class.csv', '_per_class.png')]


def run_records(checkpoint):
    """The files of the checkpoint's run folder that a results file must not replace."""
    folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(os.path.abspath(checkpoint))
    names = ('summary.csv', 'args.yaml', 'split.csv', 'thresholds.npy', 'thresholds.csv', 'class_prior.csv')
    return [os.path.join(folder, n) for n in names] + glob.glob(os.path.join(folder, '*.pth.tar'))


def data_config_for(args, config):
    """multi-label: the checkpoint's data config with timm's preprocessing flags applied."""
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
    """multi-label: --model / --num-classes / --class-map are checked against the checkpoint."""
    classes = config['classes']
    if args.model and args.model != config['model']:
        parser.error(f'--model {args.model}: {path} holds a {config["model"]} ({config["ml_head"]} head)')
    if args.num_classes is not None and args.num_classes != len(classes):
        parser.error(f'--num-classes {args.num_classes}: {path} has {len(classes)} classes')
    if args.class_map:
        difference = class_difference(classes, read_class_list(args.class_map))
        if difference:
            parser.error(f'--class-map {args.class_map} differs from the classes of {path}: {difference}')


def validate(args):
    args.prefetcher = not args.no_prefetcher

    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    device = torch.device(args.device)

    model_dtype = None
    if args.model_dtype:
        assert args.model_dtype in ('float32', 'float16', 'bfloat16')
        model_dtype = getattr(torch, args.model_dtype)

    # resolve AMP arguments (multi-label: bfloat16 autocast on a CPU-only machine)
    amp_autocast, _, amp_notice = resolve_amp(args.amp, args.amp_dtype, device)
    if utils.is_primary(args):
        _logger.info(amp_notice or f'Validating in {model_dtype or torch.float32}. AMP not enabled.')

    utils.random_seed(args.seed)

    if args.fuser:
        set_jit_fuser(args.fuser)

    if args.fast_norm:
        set_fast_norm()

    # create model (multi-label: rebuilt from the checkpoint alone, EMA weights preferred when present)
    model, config, checkpoint = load_model_from_checkpoint(
        args.checkpoint, use_ema=not args.no_ema, require_ema=args.use_ema,
        timm_kwargs=dict(args.model_kwargs, **({'global_pool': args.gp} if args.gp else {})))
    check_model(args, config, args.checkpoint)
    args.model = config['model']

    if args.reparam:
        model = reparameterize_model(model)

    param_count = sum([m.numel() for m in model.parameters()])
    if utils.is_primary(args):
        _logger.info('Model %s created, param count: %d' % (args.model, param_count))

    data_config = data_config_for(args, config)

    model = model.to(device=device, dtype=model_dtype)  # FIXME move model device & dtype into create_model
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)

    if args.torchcompile:
        assert has_compile, 'A version of torch w/ torch.compile() is required for --compile, possibly a nightly.'
        torch._dynamo.reset()
        model = torch.compile(model, backend=args.torchcompile, mode=args.torchcompile_mode)

    # multi-label: the evaluation loss of the training recipe (the checkpoint's training args)
    schema, scoring = LabelSchema.from_config(config), scoring_schema(config)
    train_args = checkpoint.get('args') if isinstance(checkpoint.get('args'), argparse.Namespace) else \
        argparse.Namespace()
    train_args.ml_head, train_args.loss = config['ml_head'], config.get('loss') or getattr(train_args, 'loss', None)
    _, criterion = create_ml_losses(train_args, None, scoring, log=False)

    # multi-label: the split is read the way training read its data; defaults are the checkpoint's root and val split
    data = config.get('data') or {}
    root_dir = args.data or args.data_dir or data.get('root')
    split = args.split or data.get('val_split') or 'validation'
    if not (args.data or args.data_dir) and root_dir and utils.is_primary(args):
        _logger.info(f'Data root {root_dir} and split {split!r} from the checkpoint.')
    if args.input_img_mode is None:
        input_img_mode = 'RGB' if data_config['input_size'][0] == 3 else 'L'
    else:
        input_img_mode = args.input_img_mode
    labels = create_eval_label_set(root_dir, split, config, args, on_bad=args.bad_images, log=utils.is_primary(args))
    if args.results_file:  # multi-label: the results never overwrite the label file or the run's own records
        check_outputs_are_not_inputs(results_outputs(args.results_file), [labels.source, args.thresholds] +
                                     run_records(args.checkpoint), '--results-file')
        check_replaceable(results_outputs(args.results_file), '--results-file', ('results', 'per-class'))
    if getattr(labels, 'streamed', False):  # multi-label: WebDataset shards (padding of the last rank is all unknown)
        from timm_ml.data.streams import StreamDataset
        dataset = StreamDataset(labels, batch_size=args.batch_size, img_mode=input_img_mode)
    else:
        if args.num_samples:
            labels = labels.subset(range(min(args.num_samples, len(labels))))
        dataset = MultiLabelDataset(labels, bad_images=args.bad_images, img_mode=input_img_mode)

    # multi-label: per-class thresholds (a file, else the checkpoint's) unless a global --threshold is given
    thresholds = None
    if args.thresholds:
        thresholds = torch.as_tensor(read_thresholds(args.thresholds, config['classes']))
    elif config.get('thresholds') is not None and args.threshold is None:
        thresholds = torch.tensor(check_per_class(config['thresholds'], config['classes'], 'thresholds',
                                                  args.checkpoint))

    loader_kwargs = eval_loader_kwargs(data_config, args.batch_size, args.workers, args.distributed, device,
                                       args.pin_mem, args.prefetcher, model_dtype)
    if data_config.get('crop_border_pixels') is not None:
        loader_kwargs['crop_border_pixels'] = data_config['crop_border_pixels']
    loader = create_ml_loader(dataset, **loader_kwargs)

    evaluator = MultiLabelEvaluator(
        device, max_samples=evaluation_sample_limit(loader), criterion=criterion, schema=schema, scoring=scoring,
        threshold=args.threshold if args.threshold is not None else 0.5, thresholds=thresholds, topk=args.topk,
        store_dtype=getattr(torch, args.store_dtype), store_device=args.store_device,
        storage='dense' if args.estimate_thresholds or args.report else args.eval_storage)  # both read every score
    metrics = run_evaluation(model, loader, evaluator, device, amp_autocast, args.channels_last, args.distributed,
                             args.log_freq, is_primary=utils.is_primary(args), prefetcher=args.prefetcher,
                             model_dtype=model_dtype)
    result = evaluator.result

    if args.estimate_thresholds and utils.is_primary(args):
        if root_dir and data.get('root') and os.path.abspath(root_dir) == data['root'] and \
                split == data.get('train_split'):  # multi-label: thresholds fit to the training images are too low
            _logger.warning(f'--estimate-thresholds on {split!r}, the split this checkpoint was trained on: thresholds '
                            'tuned on training scores are over-confident on new images. Estimate them on held-out '
                            'labels (--split val).')
        metrics, result = estimate_and_save_thresholds(args, checkpoint, config, evaluator, metrics, schema, scoring)

    if args.report and utils.is_primary(args):  # multi-label: the page of the very numbers validate.py reports
        write_report(args.report, evaluator, dataset, labels, scoring, result, metrics,
                     f'{os.path.basename(args.checkpoint)} on {labels.split} ({labels.source})')

    results = OrderedDict(
        model=args.model,
        **metrics,
        checkpoint=args.checkpoint,
        split=labels.split,
        images=getattr(dataset, 'num_valid_samples', len(dataset)),
        skipped=len(labels.skipped) + len(dataset.skipped),
        param_count=round(param_count / 1e6, 2),
        img_size=data_config['input_size'][-1],
        crop_pct=data_config['crop_pct'],
        interpolation=data_config['interpolation'],
        excluded_classes=result.excluded,
        groups=result.attributes,
        levels=result.levels,
        per_class=result.per_class,
    )
    return results


def estimate_and_save_thresholds(args, checkpoint, config, evaluator, metrics, schema, scoring):
    """multi-label: F1-optimal per-class thresholds of the multi-label block (exclusive groups decide by argmax), on
    the model's own scores; written beside the checkpoint as thresholds.npy / .csv and a checkpoint copy."""
    if not len(scoring.multilabel):
        _logger.warning('--estimate-thresholds: this model has no multi-label block (its exclusive groups decide by '
                        'argmax); no thresholds to estimate.')
        return metrics, evaluator.result
    logits, target = evaluator.gathered(args.distributed)
    logits, target = logits.float().cpu(), target.cpu()
    estimated = estimate_thresholds(scores_from_logits(logits, scoring), target, columns=scoring.multilabel).float()
    out_dir = os.path.dirname(os.path.abspath(args.checkpoint))
    npy = os.path.join(out_dir, 'thresholds.npy')
    name = os.path.basename(args.checkpoint)
    for ext in ('.pth.tar', '.pth', '.pt', '.bin'):
        if name.endswith(ext):
            name = name[:-len(ext)]
            break
    ck_copy = os.path.join(out_dir, name + '_thresholds.pth.tar')
    check_outputs_are_not_inputs([npy, npy[:-4] + '.csv', ck_copy], [args.checkpoint, args.thresholds],
                                 '--estimate-thresholds output')
    csv_path = save_thresholds(npy, config['classes'], estimated.numpy())
    task_state = dict(checkpoint.get('task_state') or {})
    task_state[ML_CONFIG_KEY] = dict(config, thresholds=estimated.tolist())
    checkpoint['task_state'] = task_state
    checkpoint.pop(ML_CONFIG_KEY, None)
    save_checkpoint_atomic(checkpoint, ck_copy)
    tuned = compute_multilabel_metrics(logits, target, schema, scoring, 0.5, estimated, args.topk)
    metrics = OrderedDict(metrics, **{k: v for k, v in tuned.summary.items() if k.startswith('thr_')})
    _logger.info(f'Per-class thresholds written to {npy}, {csv_path} and {ck_copy}')
    return metrics, tuned


def write_report(out_dir, evaluator, dataset, labels, scoring, result, metrics, title):
    """multi-label: the error-analysis page (timm_ml.report) from the evaluator's scores and validate.py's
    per-class table; decisions at the thresholds that table used."""
    from timm_ml.report import write_error_report
    if not hasattr(dataset, '_load'):
        raise ValueError('--report shows the images behind the errors: it needs a split of image files (not shards)')
    logits, target = evaluator.gathered()
    thresholds = np.array([r['threshold'] if r['threshold'] == r['threshold'] else 0.5 for r in result.per_class])
    page = write_error_report(out_dir, scores_from_logits(logits.float().cpu(), scoring).numpy(), target.cpu().numpy(),
                              dataset.label_set.paths, dataset._load, scoring, thresholds, result.per_class, metrics,
                              title)
    _logger.info(f'Error-analysis page written to {page}')


def _summary_line(m, metrics_avg=None):
    """multi-label: the headline, like timm's `* Acc@1 ...`: mAP and F1 for a multi-label block, accuracy / balanced
    accuracy / macro-F1 for groups."""
    line = '*'
    has_multilabel_block = any(k.startswith('top') and k.endswith('_CP') for k in m)
    if has_multilabel_block or 'attr_mean_acc' not in m:
        line += f" mAP {m['map']:.3f}"
        if metrics_avg != 'micro':
            line += f"  CP {m['CP']:.3f}  CR {m['CR']:.3f}  CF1 {m['CF1']:.3f}"
        if metrics_avg != 'macro':
            line += f"  OP {m['OP']:.3f}  OR {m['OR']:.3f}  OF1 {m['OF1']:.3f}"
        if 'thr_CF1' in m:
            line += f"  |  per-class thresholds: CF1 {m['thr_CF1']:.3f}  OF1 {m['thr_OF1']:.3f}"
    if 'attr_mean_acc' in m:
        line += (f"{'  |' if len(line) > 1 else ''} acc {m['attr_mean_acc']:.3f}  bacc {m['attr_mean_bacc']:.3f}  "
                 f"macro-F1 {m['attr_mean_macro_f1']:.3f}")
        if 'hier_consistency_raw' in m:
            line += f"  consistency {m['hier_consistency']:.1f} (raw argmax {m['hier_consistency_raw']:.1f})"
    return line


def _try_run(args, initial_batch_size):
    batch_size = initial_batch_size
    results = OrderedDict()
    error_str = 'Unknown'
    while batch_size:
        args.batch_size = batch_size * args.num_gpu  # multiply by num-gpu for DataParallel case
        try:
            if 'cuda' in args.device and torch.cuda.is_available():
                torch.cuda.empty_cache()
            elif "npu" in args.device and torch.npu.is_available():
                torch.npu.empty_cache()
            results = validate(args)
            return results
        except RuntimeError as e:
            error_str = str(e)
            _logger.error(f'"{error_str}" while running validation.')
            if not check_batch_size_retry(error_str):
                break
        batch_size = decay_batch_step(batch_size)
        _logger.warning(f'Reducing batch size to {batch_size} for retry.')
    results['model'] = args.model
    results['error'] = error_str
    _logger.error(f'{args.model} failed to validate ({error_str}).')
    return results


def main():
    setup_default_logging()
    args = parser.parse_args()
    check_args(args)
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    utils.init_distributed_device(args)  # multi-label: runs under torchrun, metrics gathered once
    checkpoints = []
    if os.path.isdir(args.checkpoint):
        # validate all checkpoints in a path with same model (multi-label: temp files of interrupted saves skipped)
        checkpoints = glob.glob(args.checkpoint + '/*.pth.tar')
        checkpoints += glob.glob(args.checkpoint + '/*.pth')
        checkpoints = [c for c in sorted(checkpoints, key=natural_key)
                       if os.path.basename(c) not in ('tmp.pth.tar', 'recovery_tmp.pth.tar')]
        if not checkpoints:
            parser.error(f'--checkpoint {args.checkpoint}: no *.pth.tar checkpoints in that folder')
    if args.results_file:  # multi-label: an output never overwrites an input
        outputs = results_outputs(args.results_file, checkpoints)
        check_outputs_are_not_inputs(outputs, [args.checkpoint, args.split] + checkpoints + run_records(args.checkpoint),
                                     '--results-file')
        check_replaceable(outputs, '--results-file', ('results', 'per-class'))

    if len(checkpoints):
        _logger.info('Running bulk validation on these checkpoints: {}'.format(', '.join(checkpoints)))
        results = []
        initial_batch_size = args.batch_size
        for c in checkpoints:
            args.checkpoint = c
            args.model = None
            r = _try_run(args, initial_batch_size)
            if 'error' in r:
                continue
            r['checkpoint'] = args.checkpoint
            results.append(r)
    else:
        if args.retry:
            results = _try_run(args, args.batch_size)
        else:
            results = validate(args)

    if utils.is_primary(args):  # multi-label: the headline of each checkpoint on stdout, like timm's log line
        for r in (results if isinstance(results, list) else [results]):
            if 'error' not in r:
                print(_summary_line(r, args.metrics_avg) + (f'  ({r["checkpoint"]})' if len(checkpoints) > 1 else ''))
                for name, m in (r.get('groups') or {}).items():
                    print(f"  {name}: acc {m['acc']:.3f}  balanced acc {m['bacc']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
                          f"(known {m['known']})")
                for name, m in (r.get('levels') or {}).items():
                    print(f"  level {name}: acc {m['acc']:.3f}  balanced acc {m['bacc']:.3f}  "
                          f"macro-F1 {m['macro_f1']:.3f}  (known {m['known']})")
    if args.results_file and utils.is_primary(args):
        write_results(args.results_file, results, format=args.results_format)

    if args.distributed:
        torch.distributed.destroy_process_group()
    # output results in JSON to stdout w/ delimiter for runner script
    if utils.is_primary(args):
        shown = [_brief(r) for r in results] if isinstance(results, list) else _brief(results)
        print(f'--result\n{json.dumps(shown, indent=4)}')
    return results


def _brief(results):
    """multi-label: the stdout result without the per-class table."""
    return {k: v for k, v in results.items() if k != 'per_class'}


def write_results(results_file, results, format=None):
    """timm's csv / json results (multi-label: json keeps the group and level metrics; csv the scalar columns), and
    per checkpoint the per-class CSV + PNG beside it."""
    format = format or ('json' if results_file.endswith('.json') else 'csv')
    rows = results if isinstance(results, (list, tuple)) else [results]
    with open(results_file, mode='w') as cf:
        if format == 'json':
            json.dump(_brief(results) if not isinstance(results, list) else [_brief(r) for r in results], cf, indent=4)
        else:
            if not rows:
                return
            scalar = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in rows]
            dw = csv.DictWriter(cf, fieldnames=scalar[0].keys())
            dw.writeheader()
            for r in scalar:
                dw.writerow(r)
            cf.flush()
    base, ext = os.path.splitext(results_file)
    for r in rows:
        if 'per_class' not in r:  # a checkpoint that failed to validate (--retry): its error is in the results
            continue
        prefix = base if len(rows) == 1 else base + '_' + os.path.basename(r['checkpoint']).replace('.pth.tar', '')
        write_per_class_report(r['per_class'], prefix, f'{r["checkpoint"]} on {r["split"]}')


if __name__ == '__main__':
    run_cli(main)  # multi-label: user errors end in one `error:` line (exit 2)
