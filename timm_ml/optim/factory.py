""" The optimizer options multi-label training adds to timm's optimizer_kwargs(cfg=args): the head learning-rate
scale of the head's recipe and gradient centralization."""
import logging
from typing import Any, Dict, Sequence

from timm import utils

from timm_ml.models import head_parameters, resolve_head_lr_scale

from .gradient_centralization import add_gradient_centralization
from .head_lr import head_lr_param_groups

_logger = logging.getLogger('train')


def ml_optimizer_kwargs(args, model) -> Dict[str, Any]:
    """create_optimizer_v2 keyword arguments: param_group_fn for a head lr scale other than 1 (timm's weight-decay
    groups split into backbone / head, the head at --head-lr-scale x --lr)."""
    scale = resolve_head_lr_scale(args.head_lr_scale, args.ml_head)
    if scale == 1:
        return {}
    if utils.is_primary(args):
        _logger.info(f'Head learning rate: {scale:g} x --lr (the backbone trains at --lr).')
    return dict(param_group_fn=head_lr_param_groups(head_parameters(utils.unwrap_model(model)), scale,
                                                    args.weight_decay))


def setup_gradient_centralization(args, optimizer):
    """--gc / --gc-conv-only: centralize gradients before every optimizer step; returns the hook or None."""
    if not (args.gc or args.gc_conv_only):
        return None
    if utils.is_primary(args):
        _logger.info(f'Gradient centralization on {"conv kernels" if args.gc_conv_only else "weights with ndim > 1"}.')
    return add_gradient_centralization(optimizer, conv_only=args.gc_conv_only)


def check_resumed_lr(optimizer, given_lrs: Sequence[float]):
    """ After --resume restored the optimizer state: its param groups carry the learning rates the checkpoint's run
    was created with (`initial_lr`, which the scheduler keeps), so another --lr would be dropped without a word.

    Args:
        optimizer: The optimizer, its state loaded. given_lrs: Each group's lr as this run created it.
    """
    saved = [group.get('initial_lr', group['lr']) for group in optimizer.param_groups]
    if len(saved) == len(given_lrs) and all(abs(a - b) <= 1e-9 * max(abs(a), abs(b)) for a, b in zip(saved, given_lrs)):
        return
    from timm_ml.utils.cli import UserError
    raise UserError(
        f'--resume restores an optimizer created with lr {_lrs(saved)}; this run\'s --lr (and head lr scale) give '
        f'{_lrs(given_lrs)}, which the restored state would silently replace. Drop the changed lr flags to continue '
        'the run, or add --no-resume-opt to start the optimizer (and its schedule) over at the new lr.')


def _lrs(lrs):
    return ' / '.join(f'{lr:.4g}' for lr in sorted(set(lrs)))
