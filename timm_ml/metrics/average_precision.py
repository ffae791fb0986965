""" Exact (non-interpolated) average precision with unknown targets excluded per class.

For each class, AP = mean over its positives p of TP(score >= s_p) / K(score >= s_p), K counting known entries:
tied scores form one threshold, exactly sklearn's average_precision_score on the known entries. timm's
`_average_precision` gives the same numbers on fully known targets, but it sorts the (N, C) matrix along its strided
first axis and carries indices for every entry; at Open Images sizes (200k x 10k) that is several times slower, so here
each chunk of classes is made contiguous, only score values are sorted, and precision is evaluated at the positives.
"""
from typing import Tuple

import torch


def _ap_rows(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """AP of each row of contiguous (c, N) float32 scores and int8 targets (1 / 0 / -1)."""
    positive = target == 1
    num_pos = positive.sum(1)
    max_pos = int(num_pos.max()) if scores.shape[0] else 0
    if max_pos == 0:
        return torch.zeros(scores.shape[0], dtype=torch.float64)
    ninf = torch.tensor(float('-inf'), dtype=scores.dtype)
    known_sorted = torch.where(target >= 0, scores, ninf).sort(dim=1).values  # unknowns at -inf never count
    # the positives' scores, ascending, left-padded with -inf to max_pos per row
    pos_sorted = torch.where(positive, scores, ninf).topk(max_pos, dim=1).values.flip(1).contiguous()
    valid = pos_sorted > ninf
    query = torch.where(valid, pos_sorted, torch.tensor(float('inf'), dtype=scores.dtype))
    tp = max_pos - torch.searchsorted(pos_sorted, query, right=False)
    k = scores.shape[1] - torch.searchsorted(known_sorted, query, right=False)
    precision = torch.where(valid, tp.double() / k.clamp(min=1).double(), torch.zeros((), dtype=torch.float64))
    return precision.sum(1) / num_pos.clamp(min=1).double()


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
    valid = torch.zeros(num_classes, dtype=torch.bool)
    for i in range(0, num_classes, chunk):
        s = scores[:, i:i + chunk].t().float().contiguous()
        if not torch.isfinite(s).all():
            raise ValueError('Non-finite scores in AP computation (NaN or inf model outputs).')
        t = target[:, i:i + chunk].t().contiguous()
        ap[i:i + chunk] = _ap_rows(s, t).cpu()
        valid[i:i + chunk] = (t == 1).any(1).cpu()
    return ap, valid
