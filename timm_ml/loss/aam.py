""" Asymmetric Angular Margin loss (AAM, arXiv 2209.06585) on cosine-head logits."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from timm_ml.data.targets import known_mask, negative_weight, positive_weight


class AsymmetricAngularMarginLoss(nn.Module):
    """ L = -(1/B) sum[(k/s) y log p+ + ((1-k)/s)(1-y) log p-] * w over known entries.

    p+ = sigmoid(s (cos - m)), p- = sigmoid(-s (cos + m)). The input is the cosine head's output s * cos,
    so the head's scale must equal `s`. Focusing (gamma_pos or gamma_neg > 0): w = min(p- + clip, 1)^gamma_pos
    on positives and p+^gamma_neg on negatives.

    Args:
        s: Scale (23). m: Margin (0). k: Positive / negative balance (0.7). These are the published multi-label recipe
            (COCO); the reference class's 30 / 0.35 / 0.8 are for re-identification-style training and lose ~20 mAP
            when fine-tuning a pretrained backbone.
        gamma_pos, gamma_neg: Focusing (0). clip: Shift in the positive focusing weight only (0.05).
    """

    def __init__(self, s: float = 23., m: float = 0., k: float = 0.7, gamma_pos: float = 0., gamma_neg: float = 0.,
                 clip: float = 0.05):
        super().__init__()
        self.s, self.m, self.k = s, m, k
        self.gamma_pos, self.gamma_neg, self.clip = gamma_pos, gamma_neg, clip

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        known = known_mask(target).float()
        pos, neg = positive_weight(target), negative_weight(target)  # soft targets (mixup, smoothing) weight both
        shifted_pos = logits - self.s * self.m  # s (cos - m)
        shifted_neg = -(logits + self.s * self.m)  # -s (cos + m)
        loss = (self.k / self.s) * pos * F.logsigmoid(shifted_pos) \
            + ((1 - self.k) / self.s) * neg * F.logsigmoid(shifted_neg)
        if self.gamma_pos > 0 or self.gamma_neg > 0:
            prob_pos = torch.sigmoid(shifted_pos)
            prob_neg = torch.sigmoid(shifted_neg)
            if self.clip > 0:
                prob_neg = (prob_neg + self.clip).clamp(max=1)
            weight = pos * prob_neg ** self.gamma_pos + neg * prob_pos ** self.gamma_neg
            loss = loss * weight
        return -(loss * known).sum() / logits.shape[0]
