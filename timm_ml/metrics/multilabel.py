""" All multi-label metrics of one evaluation, computed class-chunk by class-chunk from stored logits."""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch

from timm_ml.models.factory import scores_from_logits

from .attributes import attribute_metrics
from .average_precision import ap_rows, class_chunk
from .f1 import confusion_counts, per_class_f1, precision_recall_f1

CHUNK_ELEMENTS = 1 << 24


@dataclass
class MultiLabelResult:
    """ summary: percent metrics for logs / summary.csv; per_class: rows for the per-class CSV;
    excluded: classes without a known positive (left out of the mAP mean)."""
    summary: 'OrderedDict[str, float]'
    per_class: List[Dict] = field(default_factory=list)
    excluded: List[str] = field(default_factory=list)
    attributes: Dict[str, Dict[str, float]] = field(default_factory=dict)


def _logit(p):
    p = torch.as_tensor(p, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    return (p.log() - (-p).log1p()).float()


def _topk_kth_value(scores, k):
    """k-th largest score per row, computed in row chunks (bounded memory)."""
    num_rows, num_classes = scores.shape
    k = min(k, num_classes)
    rows = max(1, CHUNK_ELEMENTS // max(num_classes, 1))
    return torch.cat([scores[r:r + rows].topk(k, dim=1).values[:, -1].float() for r in range(0, num_rows, rows)])


def compute_multilabel_metrics(
        logits: torch.Tensor,
        target: torch.Tensor,
        classes: Optional[Sequence[str]] = None,
        group_sizes: Optional[Sequence[int]] = None,
        group_names: Optional[Sequence[str]] = None,
        threshold: float = 0.5,
        thresholds: Optional[torch.Tensor] = None,
        topk: int = 3,
) -> MultiLabelResult:
    """ mAP (unknowns masked), CP..OF1 at `threshold`, at per-class `thresholds` and at top-k, per-class table,
    and for attribute heads per-attribute accuracy / balanced accuracy / macro-F1. Runs on the logits' device, in
    one pass over chunks of classes.

    Sigmoid scores are compared with a threshold t as logits against logit(t): the same decision as sigmoid(x) >= t
    computed exactly (float32 sigmoid rounds values within ~1e-8 of t onto t).

    Args:
        logits: (N, C) model outputs (float16 or float32).
        target: (N, C) int8 / float targets, 1 / 0 / -1.
        classes: Class names for the per-class table.
        group_sizes: Attribute groups: scores are softmax within each group instead of sigmoid.
        threshold: Global probability threshold.
        thresholds: Optional (C,) per-class probability thresholds.
        topk: k for the top-k metrics.
    """
    num_rows, num_classes = logits.shape
    device = logits.device
    classes = list(classes) if classes is not None else [str(i) for i in range(num_classes)]
    if group_sizes:
        rank_scores = scores_from_logits(logits.float(), group_sizes)  # softmax per group, compared as probabilities
        cut = torch.tensor(threshold, dtype=torch.float32)
        class_cuts = None if thresholds is None else torch.as_tensor(thresholds, dtype=torch.float32)
    else:
        rank_scores = logits  # logits rank without sigmoid saturation ties
        cut = _logit(threshold)
        class_cuts = None if thresholds is None else _logit(thresholds)
    kth = _topk_kth_value(rank_scores, topk) if num_rows else torch.zeros(0, device=device)

    ap = torch.zeros(num_classes, dtype=torch.float64, device=device)
    valid = torch.zeros(num_classes, dtype=torch.bool, device=device)
    counts = {name: torch.zeros(3, num_classes, dtype=torch.float64, device=device) for name in ('thr', 'top', 'pcthr')}
    positives = torch.zeros(num_classes, dtype=torch.int64, device=device)
    unknown = torch.zeros(num_classes, dtype=torch.int64, device=device)
    chunk = max(1, CHUNK_ELEMENTS // max(num_rows, 1))
    for c in range(0, num_classes, chunk):
        cs = slice(c, c + chunk)
        s, t = class_chunk(rank_scores, target, c, chunk)  # (c, N)
        ap[cs] = ap_rows(s, t)
        valid[cs] = (t == 1).any(1)
        positives[cs] = (t == 1).sum(1)
        unknown[cs] = (t == -1).sum(1)
        counts['thr'][:, cs] = confusion_counts(s >= cut.to(device), t, dim=1)
        counts['top'][:, cs] = confusion_counts(s >= kth.unsqueeze(0), t, dim=1)
        if class_cuts is not None:
            counts['pcthr'][:, cs] = confusion_counts(s >= class_cuts[cs].to(device).unsqueeze(1), t, dim=1)
    ap, valid, positives, unknown = ap.cpu(), valid.cpu(), positives.cpu(), unknown.cpu()
    counts = {k: v.cpu() for k, v in counts.items()}

    summary = OrderedDict(map=100 * ap[valid].mean().item() if valid.any() else 0.)
    summary.update(precision_recall_f1(counts['thr']))
    summary.update(precision_recall_f1(counts['top'], prefix=f'top{topk}_'))
    if thresholds is not None:
        summary.update(precision_recall_f1(counts['pcthr'], prefix='thr_'))

    attributes = {}
    if group_sizes:
        attributes = attribute_metrics(rank_scores.cpu(), target.cpu(), group_sizes, group_names)
        for name, m in attributes.items():
            for k, v in m.items():
                summary[f'{name}_{k}'] = v
        scored = [m['acc'] for m in attributes.values() if m['known']]
        summary['attr_mean_acc'] = sum(scored) / len(scored) if scored else float('nan')

    table_counts = counts['pcthr'] if thresholds is not None else counts['thr']
    precision, recall, f1 = per_class_f1(table_counts)
    per_class = []
    for i, name in enumerate(classes):
        per_class.append(OrderedDict(
            index=i, name=name, ap=100 * ap[i].item() if valid[i] else float('nan'),
            positives=int(positives[i]), unknown=int(unknown[i]),
            precision=100 * precision[i].item(), recall=100 * recall[i].item(), f1=100 * f1[i].item(),
            threshold=float(thresholds[i]) if thresholds is not None else threshold))
    excluded = [classes[i] for i in range(num_classes) if not valid[i]]
    return MultiLabelResult(summary, per_class, excluded, attributes)
