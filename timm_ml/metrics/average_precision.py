""" Exact (non-interpolated) average precision with unknown targets excluded per class.

Built on timm's exact, tie-aware, class-chunked AP: unknown entries are moved strictly below every known score and
counted neither as positive nor negative, so for each class the result equals sklearn's average_precision_score on
the known entries only.
"""
from typing import Tuple

import torch
from timm.task.evaluator import _average_precision


def masked_average_precision(
        scores: torch.Tensor, target: torch.Tensor, chunk_elements: int = 1 << 24) -> Tuple[torch.Tensor, torch.Tensor]:
    """ Per-class AP and a mask of the classes that have at least one known positive.

    Args:
        scores: (N, C) scores or logits (any monotone transform gives the same AP), float16/32.
        target: (N, C) targets, 1 / 0 / -1 (unknown).
        chunk_elements: Bound on the elements sorted at once.
    Returns:
        ap: (C,) float64 AP (0 where a class has no known positive), valid: (C,) bool.
    """
    num_examples, num_classes = scores.shape
    ap = torch.zeros(num_classes, dtype=torch.float64)
    chunk = max(1, chunk_elements // max(num_examples, 1))
    for i in range(0, num_classes, chunk):
        s = scores[:, i:i + chunk].float()
        t = target[:, i:i + chunk]
        if not torch.isfinite(s).all():
            raise ValueError('Non-finite scores in AP computation (NaN or inf model outputs).')
        known = t >= 0
        s = torch.where(known, s, torch.full_like(s, float('-inf')))
        ap[i:i + chunk] = _average_precision(s, t == 1, chunk_elements=chunk_elements).cpu()
    valid = (target == 1).sum(0).cpu() > 0
    return ap, valid
