""" The optimizer options multi-label training adds to timm's optimizer_kwargs(cfg=args): the head learning-rate
scale of the head's recipe and gradient centralization."""
import logging
from typing import Any, Dict

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
