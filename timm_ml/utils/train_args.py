""" train.py argument checks: timm flags that cannot apply to multi-label training stop with a message naming them,
and --eval-metric is resolved (case-insensitive) before the first epoch."""
import logging
import math
import os
from typing import Sequence

from timm_ml.models.recipes import resolve_head_lr_scale

_logger = logging.getLogger('train')

NOT_APPLICABLE = {
    'dataset_download': '--dataset-download: nothing is downloaded; point the data folder at label files',
    'aug_splits': '--aug-splits (AugMix splits) needs a single-label JSD loss',
    'jsd_loss': '--jsd-loss is a single-label loss; choose a multi-label --loss',
    'split_bn': '--split-bn needs --aug-splits, which multi-label training does not support',
    'torchscript': '--torchscript is not supported; use --torchcompile',
    'naflex_loader': '--naflex-loader is not supported for multi-label training',
    'naflex_patchify_channels_first': '--naflex-* options are not supported for multi-label training',
    'naflex_train_seq_lens': '--naflex-* options are not supported for multi-label training',
    'naflex_patch_sizes': '--naflex-* options are not supported for multi-label training',
    'naflex_patch_size_probs': '--naflex-* options are not supported for multi-label training',
    'naflex_max_seq_len': '--naflex-* options are not supported for multi-label training',
    'naflex_loss_scale': '--naflex-* options are not supported for multi-label training',
    'kd_model_name': 'knowledge distillation (--kd-*) is not supported for multi-label training',
    'kd_distill_type': 'knowledge distillation (--kd-*) is not supported for multi-label training',
    'kd_loss_type': 'knowledge distillation (--kd-*) is not supported for multi-label training',
    'distill_loss_weight': 'knowledge distillation (--distill-loss-weight) is not supported',
    'task_loss_weight': 'knowledge distillation (--task-loss-weight) is not supported',
    'kd_temperature': 'knowledge distillation (--kd-*) is not supported for multi-label training',
    'kd_student_feature_dim': 'knowledge distillation (--kd-*) is not supported for multi-label training',
    'kd_teacher_feature_dim': 'knowledge distillation (--kd-*) is not supported for multi-label training',
    'kd_token_distill_type': 'knowledge distillation (--kd-*) is not supported for multi-label training',
}


def check_train_args(args, parser):
    """parser.error() for every timm option given that does not apply, and for combinations that cannot work."""
    problems = [msg for name, msg in NOT_APPLICABLE.items()
                if getattr(args, name, None) not in (None, False, 0, '', [], parser.get_default(name))]
    if args.amp_impl != 'native':
        problems.append(f'--amp-impl {args.amp_impl!r}: only "native" (torch.amp) is available')
    if args.model_dtype not in (None, 'float32', 'float16', 'bfloat16'):
        problems.append(f'--model-dtype {args.model_dtype!r}: one of float32, float16, bfloat16')
    if args.amp and args.model_dtype not in (None, 'float32'):
        problems.append('--amp needs a float32 model (--model-dtype float32)')
    if args.bce_loss and args.loss not in (None, 'bce'):
        problems.append(f'--bce-loss contradicts --loss {args.loss}')
    if (args.bce_sum or args.bce_target_thresh is not None or args.bce_pos_weight is not None) and \
            args.loss not in (None, 'bce'):
        problems.append('--bce-sum / --bce-target-thresh / --bce-pos-weight apply to the bce loss only')
    if args.layer_decay is not None and args.ml_head and resolve_head_lr_scale(args.head_lr_scale, args.ml_head) != 1:
        problems.append(f'--layer-decay sets its own per-layer learning rates: use it with --head-lr-scale 1 (the '
                        f'{args.ml_head} head recipe scales the head by '
                        f'{resolve_head_lr_scale(args.head_lr_scale, args.ml_head)})')
    if args.sampler == 'balanced' and (args.aug_repeats or args.train_img_sizes):
        problems.append('--sampler balanced draws its own batches: it does not combine with --aug-repeats or '
                        '--train-img-sizes')
    if args.epoch_repeats < 0:
        problems.append('--epoch-repeats must be >= 0')
    if args.tta not in (0, 1, 2):
        problems.append('--tta: 2 averages each image with its horizontal flip; other factors need an evaluation '
                        'loader yielding augmented copies, which is not available')
    for name in ('epochs', 'topk', 'log_interval', 'checkpoint_hist'):
        if getattr(args, name) < 1:
            problems.append(f'--{name.replace("_", "-")} must be >= 1')
    if args.batch_size < 1:
        problems.append(f'-b {args.batch_size}: the batch size must be >= 1')
    if getattr(args, 'validation_batch_size', None) is not None and args.validation_batch_size < 1:
        problems.append(f'--validation-batch-size {args.validation_batch_size}: must be >= 1')
    for flag, value in (('--lr', args.lr), ('--lr-base', getattr(args, 'lr_base', None))):
        if value is not None and not 0 <= value < math.inf:
            problems.append(f'{flag} {value}: a learning rate must be >= 0 and finite')
    in_chans = args.input_size[0] if args.input_size else (getattr(args, 'in_chans', None) or 3)
    for flag, values in (('--mean', args.mean), ('--std', args.std)):
        if values is not None and len(values) not in (1, in_chans):
            problems.append(f'{flag} has {len(values)} values for {in_chans} input channel'
                            + (f's: give 1 or {in_chans}' if in_chans > 1 else ': give 1'))
        if values is not None and not all(math.isfinite(v) for v in values):
            problems.append(f'{flag} {" ".join(map(str, values))}: every value must be finite')
    if args.std is not None and any(not v > 0 for v in args.std):
        problems.append(f'--std {" ".join(map(str, args.std))}: every std must be > 0 (inputs are divided by it)')
    if args.input_img_mode and args.input_size and len(args.input_img_mode) != args.input_size[0] and \
            args.input_img_mode not in ('I;16', 'I', 'F'):
        problems.append(f'--input-img-mode {args.input_img_mode} gives {len(args.input_img_mode)} channels but '
                        f'--input-size has {args.input_size[0]}')
    if args.val_interval < 1:
        problems.append('--val-interval must be >= 1')
    if not 0 < args.threshold < 1:
        problems.append(f'--threshold {args.threshold}: a probability threshold, strictly between 0 and 1')
    if args.simulate_partial:
        from timm_ml.data import parse_partial_spec
        try:
            parse_partial_spec(args.simulate_partial)
        except ValueError as e:
            problems.append(str(e))
    for flag, path in (('--resume', args.resume), ('--initial-checkpoint', args.initial_checkpoint),
                       ('--pretrained-path', args.pretrained_path), ('--class-map', args.class_map)):
        if path and not os.path.isfile(path):
            problems.append(f'{flag} {path}: no such file')
    if not args.dataset:
        for name in ('train_num_samples', 'val_num_samples', 'input_key', 'target_key', 'dataset_trust_remote_code'):
            if getattr(args, name, None) not in (None, False):
                problems.append(f'--{name.replace("_", "-")} applies to streamed datasets (--dataset wds/... or '
                                'hfds/...), not to label files in a folder')
    elif args.dataset.partition('/')[0].lower() not in ('wds', 'hfds', 'hfids'):
        problems.append(f'--dataset {args.dataset!r}: multi-label sources are wds/<shards>, hfds/<name or folder> or '
                        'hfids/<name>; leave --dataset empty for label files in the data folder')
    if problems:
        parser.error('; '.join(problems))


def resolve_eval_metric(name: str, available: Sequence[str]) -> str:
    """The evaluation column `name` refers to, matched case-insensitively (`mAP` -> `map`); an unknown name is an
    error listing the columns."""
    if name in available:
        return name
    folded = {a.lower(): a for a in available}
    if name.lower() in folded:
        return folded[name.lower()]
    raise ValueError(f'--eval-metric {name!r} is not an evaluation column; choose one of {list(available)}')


def check_recipe_fits(args, updates_per_epoch: int, num_epochs: int, log: bool = True):
    """ Say in the log when a default cannot fit this run, with the value that would: an EMA whose decay averages
    over more updates than the run has (model_best would track weights still near their initialisation), and a warmup
    that covers most of the run."""
    total = max(1, updates_per_epoch * num_epochs)
    notes = []
    if args.model_ema and not args.model_ema_warmup:
        window = 1. / max(1e-12, 1. - args.model_ema_decay)
        if window > total / 3:
            fit = 1. - 10. / total
            notes.append(f'--model-ema-decay {args.model_ema_decay} averages over ~{window:.0f} updates but the run has '
                         f'{total}: the EMA would stay near its initial weights. Use --model-ema-decay {fit:.4g} '
                         '(about a tenth of the run) or --model-ema-warmup.')
    if args.warmup_epochs and args.sched not in ('none', None) and args.warmup_epochs >= 0.5 * num_epochs:
        fit = max(0, num_epochs // 10)
        notes.append(f'--warmup-epochs {args.warmup_epochs} covers {100 * min(1., args.warmup_epochs / num_epochs):.0f}% '
                     f'of a {num_epochs}-epoch run (timm\'s default of 5 is for long ImageNet schedules): use '
                     f'--warmup-epochs {fit}.')
    if log:
        for note in notes:
            _logger.warning(note)
    return notes
