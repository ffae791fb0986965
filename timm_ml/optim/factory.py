""" The optimizer options multi-label training adds to timm's optimizer_kwargs(cfg=args): the head learning-rate
scale of the head's recipe and gradient centralization."""
import logging
from typing import Any, Dict, List, Sequence, Tuple

from timm.utils import unwrap_model

from timm_ml.models import head_parameters

from .gradient_centralization import add_gradient_centralization
from .head_lr import head_lr_param_groups

_logger = logging.getLogger('train')


def ml_optimizer_kwargs(model, head_lr_scale: float, weight_decay: float, log: bool = True) -> Dict[str, Any]:
    """ create_optimizer_v2 keyword arguments: param_group_fn for a head lr scale other than 1 (timm's weight-decay
    groups split into backbone / head, the head at head_lr_scale x --lr).

    Args:
        model: The model (any wrapper). head_lr_scale: The resolved scale (resolve_head_lr_scale).
        weight_decay: --weight-decay. log: Say so in the log.
    """
    if head_lr_scale == 1:
        return {}
    if log:
        _logger.info(f'Head learning rate: {head_lr_scale:g} x --lr (the backbone trains at --lr).')
    return dict(param_group_fn=head_lr_param_groups(head_parameters(unwrap_model(model)), head_lr_scale, weight_decay))


def setup_gradient_centralization(optimizer, gc: bool = False, conv_only: bool = False, log: bool = True):
    """--gc / --gc-conv-only: centralize gradients before every optimizer step; returns the hook or None."""
    if not (gc or conv_only):
        return None
    if log:
        _logger.info(f'Gradient centralization on {"conv kernels" if conv_only else "weights with ndim > 1"}.')
    return add_gradient_centralization(optimizer, conv_only=conv_only)


def optimizer_settings(optimizer) -> List[Tuple[float, float, float]]:
    """Each param group's (lr the run was created with, lr_scale, weight decay): what a restored optimizer state keeps
    whatever this run's flags say (timm's schedulers start from `initial_lr` and apply `lr_scale`)."""
    return [(group.get('initial_lr', group['lr']), group.get('lr_scale', 1.0), group.get('weight_decay', 0.0))
            for group in optimizer.param_groups]


def check_resumed_lr(optimizer, given: Sequence[Tuple[float, float, float]]):
    """ After --resume restored the optimizer state: its param groups carry the checkpoint run's learning rate,
    per-group lr scale (--head-lr-scale, --layer-decay) and weight decay, so changed flags would be dropped without a
    word.

    Args:
        optimizer: The optimizer, its state loaded. given: optimizer_settings() of the optimizer as this run created it.
    """
    saved = optimizer_settings(optimizer)
    close = lambda a, b: abs(a - b) <= 1e-9 * max(abs(a), abs(b))  # noqa: E731
    changed = []
    for i, name in enumerate(('lr', 'per-group lr scale (--head-lr-scale / --layer-decay)', 'weight decay')):
        was, now = [g[i] for g in saved], [g[i] for g in given]
        if len(was) != len(now) or not all(close(a, b) for a, b in zip(was, now)):
            changed.append(f'{name} {_values(was)} -> {_values(now)}')
    if changed:
        raise ValueError(
            f'--resume restores an optimizer whose settings differ from this run\'s flags ({"; ".join(changed)}; '
            'checkpoint -> this run): the restored state would silently keep the checkpoint\'s. Give the flags the run '
            'was started with (its args.yaml) to continue it, or add --no-resume-opt to start the optimizer and its '
            'schedule over with the new ones.')


def _values(values):
    return ' / '.join(f'{v:.4g}' for v in sorted(set(values)))
