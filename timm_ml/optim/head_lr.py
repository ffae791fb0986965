""" A learning-rate scale for a freshly initialised head on a pretrained backbone.

timm's schedulers multiply each param group's lr by its `lr_scale`, so the head keeps its ratio to the backbone through
warmup and decay. Weight-decay grouping is timm's own (`param_groups_weight_decay`); each of its groups is split into
backbone and head parts.
"""
from typing import Callable, Iterable, List

import torch.nn as nn
from timm.optim import param_groups_weight_decay


def head_lr_param_groups(
        head_parameters: Iterable[nn.Parameter],
        head_lr_scale: float,
        weight_decay: float = 0.,
) -> Callable[[nn.Module], List[dict]]:
    """ A `param_group_fn` for timm's create_optimizer_v2.

    Args:
        head_parameters: The head's parameters (matched by identity, so wrappers such as DDP or a task do not matter).
        head_lr_scale: lr multiplier of the head relative to --lr (the backbone keeps 1).
        weight_decay: Applied as timm does (not to biases, norms or the model's no_weight_decay list).
    """
    head_ids = {id(p) for p in head_parameters}

    def param_group_fn(model: nn.Module) -> List[dict]:
        skip = model.no_weight_decay() if hasattr(model, 'no_weight_decay') else ()
        groups = []
        for group in param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip):
            for is_head, scale in ((False, 1.), (True, head_lr_scale)):
                params = [p for p in group['params'] if (id(p) in head_ids) == is_head]
                if params:
                    groups.append(dict(group, params=params, lr_scale=scale))
        return groups

    return param_group_fn
