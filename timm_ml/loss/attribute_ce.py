""" Cross-entropy per attribute group with unknown attributes ignored."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class AttributeCrossEntropy(nn.Module):
    """ Mean over attributes (with at least one known target in the batch) of the mean CE over known samples.

    Targets use the shared encoding: an attribute's block is one-hot (or soft, after mixup) when known and all -1
    when unknown.

    Args:
        group_sizes: Values per attribute, in class order.
        smoothing: Label smoothing within each attribute.
    """

    def __init__(self, group_sizes: Sequence[int], smoothing: float = 0.):
        super().__init__()
        self.group_sizes = list(group_sizes)
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        losses = []
        for x, t in zip(logits.float().split(self.group_sizes, -1), target.split(self.group_sizes, -1)):
            known = (t >= 0).all(-1) & (t.sum(-1) > 0)
            if not known.any():
                continue
            x, t = x[known], t[known]
            t = t / t.sum(-1, keepdim=True)
            if self.smoothing:
                t = t * (1 - self.smoothing) + self.smoothing / t.shape[-1]
            losses.append(-(t * F.log_softmax(x, -1)).sum(-1).mean())
        if not losses:
            return logits.sum() * 0.
        return torch.stack(losses).mean()
