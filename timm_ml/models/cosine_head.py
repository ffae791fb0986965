""" Pooled-feature heads beyond timm's classifier: cosine (for AAM)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class CosineHead(nn.Module):
    """ scale * cos(features, class weights), clamped to [-1, 1] before scaling; no bias.

    The output is a logit: sigmoid(scale * cos) is the class score, and the AAM loss applies its margin on it.

    Args:
        in_features: Pooled feature width.
        num_classes: Output classes.
        scale: s, fixed (AAM's s, 23 by default).
    """
    wants_tokens = False

    def __init__(self, in_features: int, num_classes: int, scale: float = 23.):
        super().__init__()
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, std=0.01)

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        return (F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=-1).t()).clamp(-1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.cosine(x)
