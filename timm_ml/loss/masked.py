""" Unknown-target (-1) masking for timm's multi-label losses

timm's losses know targets in [0, 1] only. Element-wise losses (bce, asl, poly, db) run with reduction 'none' and the
unknown entries are zeroed before the loss's own reduction ('mean' then divides by the number of known entries).
Per-sample losses (twoway, zlpr) see unknown entries as confidently negative logits, which contribute exactly
nothing to their positive and negative sums and receive no gradient.
"""
import torch
import torch.nn as nn

ELEMENTWISE_LOSSES = ('bce', 'asl', 'poly', 'db')
NEUTRAL_LOGIT = -1e4  # sigmoid(-1e4) == 0 and exp(-1e4) == 0 in float32


class MaskedMultiLabelLoss(nn.Module):
    """ Wrap a timm multi-label loss so that targets of -1 contribute nothing.

    Args:
        base: A loss from timm.loss.create_classification_loss(..., multi_label=True).
        loss_type: Its timm name, selecting element-wise masking or the neutral-logit form.
    """

    def __init__(self, base: nn.Module, loss_type: str):
        super().__init__()
        self.base = base
        self.elementwise = loss_type in ELEMENTWISE_LOSSES
        if self.elementwise:
            if getattr(base, 'sum_classes', False):  # timm BCE bce_sum: sum over classes, mean over batch
                base.sum_classes = False
                self.reduction = 'batchmean'
            else:
                self.reduction = base.reduction
            base.reduction = 'none'

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        known = target >= 0
        target = target.clamp(min=0)
        if not self.elementwise:
            x = torch.where(known, x, torch.full_like(x, NEUTRAL_LOGIT))
            return self.base(x, target)
        loss = self.base(x, target) * known
        if self.reduction == 'mean':
            return loss.sum() / known.sum().clamp(min=1)
        if self.reduction == 'batchmean':
            return loss.sum() / x.shape[0]
        if self.reduction == 'sum':
            return loss.sum()
        return loss
