""" train.py argument checks: timm flags that cannot apply to multi-label training stop with a message naming them,
and --eval-metric is resolved (case-insensitive) before the first epoch."""
from typing import Sequence

NOT_APPLICABLE = {
    'dataset_download': '--dataset-download: nothing is downloaded; point the data folder at label files',
    'train_num_samples': '--train-num-samples applies to iterable (tfds / wds) datasets only',
    'val_num_samples': '--val-num-samples applies to iterable (tfds / wds) datasets only',
    'input_key': '--input-key applies to Hugging Face / WebDataset datasets, which are not read yet',
    'target_key': '--target-key applies to Hugging Face / WebDataset datasets, which are not read yet',
    'dataset_trust_remote_code': '--dataset-trust-remote-code applies to Hugging Face datasets only',
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
    if args.dataset:
        problems.append(f'--dataset {args.dataset!r}: only label files in the data folder are read (leave --dataset '
                        'empty)')
    if args.amp_impl != 'native':
        problems.append(f'--amp-impl {args.amp_impl!r}: only "native" (torch.amp) is available')
    if args.model_dtype not in (None, 'float32', 'float16', 'bfloat16'):
        problems.append(f'--model-dtype {args.model_dtype!r}: one of float32, float16, bfloat16')
    if args.amp and args.model_dtype not in (None, 'float32'):
        problems.append('--amp needs a float32 model (--model-dtype float32)')
    if args.bce_loss and args.loss not in (None, 'bce'):
        problems.append(f'--bce-loss contradicts --loss {args.loss}')
    if (args.bce_sum or args.bce_target_thresh is not None or args.bce_pos_weight is not None) and \
            resolve_loss_type(args) != 'bce':
        problems.append('--bce-sum / --bce-target-thresh / --bce-pos-weight apply to the bce loss only')
    if args.layer_decay is not None and resolve_head_lr_scale(args) != 1:
        problems.append(f'--layer-decay sets its own per-layer learning rates: use it with --head-lr-scale 1 (the '
                        f'{args.ml_head} head recipe scales the head by {resolve_head_lr_scale(args)})')
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
    if args.input_img_mode and args.input_size and len(args.input_img_mode) != args.input_size[0] and \
            args.input_img_mode not in ('I;16', 'I', 'F'):
        problems.append(f'--input-img-mode {args.input_img_mode} gives {len(args.input_img_mode)} channels but '
                        f'--input-size has {args.input_size[0]}')
    if args.val_interval < 1:
        problems.append('--val-interval must be >= 1')
    if problems:
        parser.error('; '.join(problems))


def resolve_loss_type(args) -> str:
    """--loss, or the loss of the head's published recipe (HEAD_RECIPES)."""
    from timm_ml.models import HEAD_RECIPES
    return args.loss or HEAD_RECIPES[args.ml_head]['loss']


def resolve_head_lr_scale(args) -> float:
    """--head-lr-scale, or the head's recipe value."""
    from timm_ml.models import HEAD_RECIPES
    scale = args.head_lr_scale if args.head_lr_scale is not None else HEAD_RECIPES[args.ml_head]['head_lr_scale']
    if scale <= 0:
        raise ValueError(f'--head-lr-scale must be > 0, got {scale}')
    return scale


def resolve_eval_metric(name: str, available: Sequence[str]) -> str:
    """The evaluation column `name` refers to, matched case-insensitively (`mAP` -> `map`); an unknown name is an
    error listing the columns."""
    if name in available:
        return name
    folded = {a.lower(): a for a in available}
    if name.lower() in folded:
        return folded[name.lower()]
    raise ValueError(f'--eval-metric {name!r} is not an evaluation column; choose one of {list(available)}')
