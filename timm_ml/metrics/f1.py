""" Per-class and overall precision / recall / F1 (CP, CR, CF1, OP, OR, OF1) over known targets.

Per-class metrics are averaged over classes (not images). A 0/0 ratio counts as 0.
"""
from collections import OrderedDict

import torch


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))


def _f1(p, r):
    return 2 * p * r / (p + r) if (p + r) > 0 else 0.


def confusion_counts(pred: torch.Tensor, target: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """(3, C) TP, FP, FN per class from boolean predictions; unknown (-1) targets are not counted.

    dim: the sample dimension of `pred` / `target` ((N, C) -> 0, class-major (C, N) -> 1).
    """
    pos, neg = target == 1, target == 0
    tp = (pred & pos).sum(dim)
    return torch.stack([tp, (pred & neg).sum(dim), pos.sum(dim) - tp]).double()


def precision_recall_f1(counts: torch.Tensor, prefix: str = '', per_class=None) -> 'OrderedDict[str, float]':
    """CP, CR, CF1, OP, OR, OF1 in percent from (3, C) TP / FP / FN counts; the per-class means (CP, CR) over the
    columns `per_class` selects (mAP's rule: the classes with a known positive), the overall ones over all."""
    tp, fp, fn = counts
    ctp, cfp, cfn = counts[:, per_class] if per_class is not None else counts
    cp = _ratio(ctp, ctp + cfp).mean().item() if ctp.numel() else 0.
    cr = _ratio(ctp, ctp + cfn).mean().item() if ctp.numel() else 0.
    op = (tp.sum() / (tp + fp).sum()).item() if (tp + fp).sum() > 0 else 0.
    o_r = (tp.sum() / (tp + fn).sum()).item() if (tp + fn).sum() > 0 else 0.
    return OrderedDict((prefix + k, 100 * v) for k, v in (
        ('CP', cp), ('CR', cr), ('CF1', _f1(cp, cr)), ('OP', op), ('OR', o_r), ('OF1', _f1(op, o_r))))


def per_class_f1(counts: torch.Tensor):
    tp, fp, fn = counts
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1
