""" Gradient centralization (arXiv 2004.01461) for any torch optimizer."""
import torch


def centralize_gradients(params, conv_only: bool = False):
    """g <- g - mean(g over all dims but the first), for weights with ndim > 3 (conv_only) or ndim > 1."""
    min_ndim = 4 if conv_only else 2
    for p in params:
        if p.grad is not None and p.grad.ndim >= min_ndim:
            p.grad.sub_(p.grad.mean(dim=tuple(range(1, p.grad.ndim)), keepdim=True))


def add_gradient_centralization(optimizer: torch.optim.Optimizer, conv_only: bool = False):
    """ Centralize gradients right before every optimizer.step() (after AMP unscaling and clipping), as in the paper.

    Args:
        optimizer: Any optimizer, e.g. from timm's create_optimizer_v2.
        conv_only: Only 4-D conv kernels; otherwise every weight with ndim > 1. Biases and norms are untouched.
    Returns:
        The hook handle (call .remove() to turn it off).
    """
    def hook(opt, args, kwargs):
        for group in opt.param_groups:
            centralize_gradients(group['params'], conv_only)
    return optimizer.register_step_pre_hook(hook)
