""" Class-aware Selective Loss for partial labels (CSL, arXiv 2110.10955)."""
from typing import Optional

import torch
import torch.nn as nn

from timm_ml.data.targets import negative_weight, positive_weight, unknown_mask

PARTIAL_MODES = ('negative', 'ignore', 'ignore_normalize_classes', 'selective')


class ClassAwareSelectiveLoss(nn.Module):
    """ Asymmetric focal loss over positives, negatives and unknowns (-1) with a per-mode weight on the unknowns.

    Args:
        partial_loss_mode: 'negative' (unknowns are negatives with gamma_unann focusing), 'ignore' (weight 0),
            'ignore_normalize_classes' (known entries weighted 1 / (1 + n_known) + 1), 'selective' (unknowns of
            classes whose prior exceeds prior_threshold, and the likelihood_topk * B most likely positive
            unknowns of the batch, are ignored; the rest are negatives).
        gamma_pos: Positive focusing (0).
        gamma_neg: Negative focusing (1).
        gamma_unann: Unknown focusing (2).
        alpha_pos, alpha_neg, alpha_unann: Term weights (1).
        clip: Probability shift on negatives and unknowns (0).
        likelihood_topk: Unknowns per sample ignored in 'selective' mode (5).
        prior: (C,) class prior, used by 'selective' mode.
        prior_threshold: Classes with prior above this have their unknowns ignored (0.05).
        reduction: 'sum' (the reference) or 'batchmean'.
        eps: Clamp before the logs (1e-8).
    """

    def __init__(
            self,
            partial_loss_mode: str = 'negative',
            gamma_pos: float = 0.,
            gamma_neg: float = 1.,
            gamma_unann: float = 2.,
            alpha_pos: float = 1.,
            alpha_neg: float = 1.,
            alpha_unann: float = 1.,
            clip: float = 0.,
            likelihood_topk: int = 5,
            prior: Optional[torch.Tensor] = None,
            prior_threshold: float = 0.05,
            reduction: str = 'sum',
            eps: float = 1e-8,
    ):
        super().__init__()
        if partial_loss_mode not in PARTIAL_MODES:
            raise ValueError(f'Unknown partial loss mode {partial_loss_mode!r}, expected one of {PARTIAL_MODES}')
        if reduction not in ('sum', 'batchmean'):
            raise ValueError(f"CSL reduction must be 'sum' or 'batchmean', got {reduction!r}")
        self.partial_loss_mode = partial_loss_mode
        self.gamma_pos, self.gamma_neg, self.gamma_unann = gamma_pos, gamma_neg, gamma_unann
        self.alpha_pos, self.alpha_neg, self.alpha_unann = alpha_pos, alpha_neg, alpha_unann
        self.clip = clip
        self.likelihood_topk = likelihood_topk
        self.prior_threshold = prior_threshold
        self.reduction = reduction
        self.eps = eps
        self.register_buffer('prior', None if prior is None else torch.as_tensor(prior, dtype=torch.float32))

    @torch.no_grad()
    def partial_weight(self, prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        unknown = unknown_mask(target)
        weight = torch.ones_like(prob)
        mode = self.partial_loss_mode
        if mode == 'ignore':
            weight[unknown] = 0
        elif mode == 'ignore_normalize_classes':
            num_known = (~unknown).sum(1, keepdim=True).float()
            weight = (1. / (1. + num_known) + 1.).expand_as(prob).clone()
            weight[unknown] = 0
        elif mode == 'selective':
            if self.prior is not None:
                weight[unknown & (self.prior > self.prior_threshold).unsqueeze(0)] = 0
            num_top = min(self.likelihood_topk * prob.shape[0], int(unknown.sum()))
            if num_top > 0:
                candidates = torch.where(unknown, prob, torch.full_like(prob, -1.)).flatten()
                weight.view(-1)[candidates.topk(num_top).indices] = 0
        return weight

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Soft known targets y in [0, 1] (mixup, smoothing) weight the positive term by y, the negative by 1 - y."""
        x = x.float()
        prob = torch.sigmoid(x)
        prob_neg = 1. - prob
        if self.clip > 0:
            prob_neg = (prob_neg + self.clip).clamp(max=1)
        pos, neg, unk = positive_weight(target), negative_weight(target), unknown_mask(target).float()
        log_pos = torch.log(prob.clamp(min=self.eps))
        log_neg = torch.log(prob_neg.clamp(min=self.eps))
        with torch.no_grad():
            focus_pos = (1 - prob) ** self.gamma_pos
            focus_neg = (1 - prob_neg) ** self.gamma_neg
            focus_unk = (1 - prob_neg) ** self.gamma_unann
        loss = (self.alpha_pos * pos * log_pos * focus_pos
                + self.alpha_neg * neg * log_neg * focus_neg
                + self.alpha_unann * unk * log_neg * focus_unk)
        loss = -(loss * self.partial_weight(prob.detach(), target)).sum()
        return loss / x.shape[0] if self.reduction == 'batchmean' else loss
