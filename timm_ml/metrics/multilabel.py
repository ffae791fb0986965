""" All metrics of one evaluation, computed class-chunk by class-chunk from stored logits.

What is scored follows the schemas:
- the multi-label block (columns scored by a sigmoid) gets mAP, CP..OF1 at the threshold, at per-class thresholds and
  at top-k;
- exclusive groups get accuracy, balanced accuracy and macro-F1 per group and per tree level, and the hierarchical
  consistency rate; when the model has no multi-label block, mAP and CP..OF1 are computed over the group columns from
  the decoded (argmax) predictions, never from 0.5 thresholds on softmax scores.
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from timm_ml.schema import LabelSchema, decode
from timm_ml.scoring import scores_from_logits

from .average_precision import HISTOGRAM_DTYPES, block_statistics, class_chunk, histogram_statistics, top_counts
from .f1 import confusion_counts, per_class_f1, precision_recall_f1
from .groups import group_metrics

CHUNK_ELEMENTS = 1 << 24
HISTOGRAM_MIN_ROWS = 1 << 15  # below this a class's 2^16-pattern histogram outweighs its entries
HISTOGRAM_CLASSES = 16  # classes a histogram pass: small enough for the counts to stay in cache


@dataclass
class MultiLabelResult:
    """ summary: percent metrics for logs / summary.csv; per_class: rows for the per-class CSV;
    excluded: classes without a known positive (left out of the mAP mean); attributes: per-group metrics;
    levels: per-tree-level metrics."""
    summary: 'OrderedDict[str, float]'
    per_class: List[Dict] = field(default_factory=list)
    excluded: List[str] = field(default_factory=list)
    attributes: Dict[str, Dict[str, float]] = field(default_factory=dict)
    levels: Dict[str, Dict[str, float]] = field(default_factory=dict)


def _logit(p):
    p = torch.as_tensor(p, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    return (p.log() - (-p).log1p()).float()


def _topk_kth_value(scores, k):
    """k-th largest score per row, computed in row chunks (bounded memory)."""
    num_rows, num_classes = scores.shape
    k = min(k, num_classes)
    rows = max(1, CHUNK_ELEMENTS // max(num_classes, 1))
    return torch.cat([scores[r:r + rows].topk(k, dim=1).values[:, -1].float() for r in range(0, num_rows, rows)])


def headline_metric(schema: LabelSchema) -> str:
    """The metric a run is ranked by when --eval-metric is not given: mAP when there is a multi-label block, else the
    mean accuracy over the groups and tree levels."""
    return 'map' if len(schema.multilabel) else 'attr_mean_acc'


def metric_names(label_schema: LabelSchema, scoring: LabelSchema, topk: int = 3, thresholds: bool = False,
                 loss: bool = True) -> List[str]:
    """The summary keys compute_multilabel_metrics() returns for these schemas (no evaluation needed)."""
    names = (['loss'] if loss else []) + ['map', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1']
    if len(scoring.multilabel):
        names += [f'top{topk}_{k}' for k in ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')]
    if thresholds:
        names += [f'thr_{k}' for k in ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')]
    names += _group_names(label_schema)
    return names


def _group_names(schema: LabelSchema) -> List[str]:
    if not schema.groups:
        return []
    names = []
    for g in schema.groups:
        if g.parent is None:
            names += [f'{g.key}_{k}' for k in ('acc', 'bacc', 'macro_f1')]
    for level in list(schema.levels())[0:]:
        if schema.group_of_column(schema.levels()[level][0]).parent is not None:
            names += [f'level_{level}_{k}' for k in ('acc', 'bacc', 'macro_f1')]
    names += ['attr_mean_acc', 'attr_mean_bacc', 'attr_mean_macro_f1']
    if schema.levels():
        names += ['hier_consistency', 'hier_consistency_raw']
    return names


def block_class_statistics(rank_scores, target, ml_mask, cut, class_cuts=None, kth=None, group_pred=None):
    """ Per-class AP, positives, unknowns and TP / FP / FN counts (at the global threshold `cut`, at per-class
    `class_cuts`, at top-k `kth`) of (N, c) scores, in chunks of classes. Group columns (ml_mask False) are decided by
    `group_pred` (argmax) instead of a threshold. Returns a dict of tensors on the scores' device."""
    num_rows, num_classes = rank_scores.shape
    device = rank_scores.device
    ap = torch.zeros(num_classes, dtype=torch.float64, device=device)
    counts = {name: torch.zeros(3, num_classes, dtype=torch.float64, device=device) for name in ('thr', 'top', 'pcthr')}
    positives = torch.zeros(num_classes, dtype=torch.int64, device=device)
    unknown = torch.zeros(num_classes, dtype=torch.int64, device=device)
    if rank_scores.dtype in HISTOGRAM_DTYPES and num_rows >= HISTOGRAM_MIN_ROWS and group_pred is None:
        for c in range(0, num_classes, HISTOGRAM_CLASSES):
            cs = slice(c, c + HISTOGRAM_CLASSES)
            width = len(range(num_classes)[cs])
            cuts = [cut.to(device).expand(width)]
            if class_cuts is not None:
                cuts.append(class_cuts[cs].to(device))
            stats = histogram_statistics(rank_scores[:, cs], target[:, cs], torch.stack(cuts, 1))
            ap[cs], positives[cs], unknown[cs] = stats['ap'], stats['positives'], stats['unknown']
            cut_counts = stats['cut_counts'].double().permute(2, 0, 1)
            counts['thr'][:, cs] = cut_counts[:, :, 0]
            if class_cuts is not None:
                counts['pcthr'][:, cs] = cut_counts[:, :, 1]
        if kth is not None:
            tp_fp = top_counts(rank_scores, target, kth).double().t()
            counts['top'] = torch.cat([tp_fp, (positives.double() - tp_fp[0]).unsqueeze(0)]) * ml_mask.to(device)
        return dict(ap=ap, positives=positives, unknown=unknown, **counts)
    chunk = max(1, CHUNK_ELEMENTS // max(num_rows, 1))
    for c in range(0, num_classes, chunk):
        cs = slice(c, c + chunk)
        s, t = class_chunk(rank_scores, target, c, chunk)  # (c, N)
        rows = s.shape[0]
        cuts = [cut.to(device).expand(rows)]
        if class_cuts is not None:
            cuts.append(class_cuts[cs].to(device))
        stats = block_statistics(s, t, torch.stack(cuts, 1), kth)
        ap[cs], positives[cs], unknown[cs] = stats['ap'], stats['positives'], stats['unknown']
        cut_counts = stats['cut_counts'].double().permute(2, 0, 1)  # (3, c, m)
        counts['thr'][:, cs] = cut_counts[:, :, 0]
        if class_cuts is not None:
            counts['pcthr'][:, cs] = cut_counts[:, :, 1]
        if kth is not None:
            counts['top'][:, cs] = stats['top_counts'].double().t() * ml_mask[cs].to(device)
        is_group = ~ml_mask[cs]
        if group_pred is not None and is_group.any():  # exclusive groups decide by argmax, never by a threshold
            decided = confusion_counts(group_pred[:, cs].t(), t, dim=1)
            gm = is_group.to(device)
            counts['thr'][:, cs] = torch.where(gm, decided, counts['thr'][:, cs])
            counts['pcthr'][:, cs] = torch.where(gm, decided, counts['pcthr'][:, cs])
    return dict(ap=ap, positives=positives, unknown=unknown, **counts)


def compute_multilabel_metrics(
        logits: torch.Tensor,
        target: torch.Tensor,
        schema: Optional[LabelSchema] = None,
        scoring: Optional[LabelSchema] = None,
        threshold: float = 0.5,
        thresholds: Optional[torch.Tensor] = None,
        topk: int = 3,
) -> MultiLabelResult:
    """ The metrics of (N, C) logits against targets (1 / 0 / -1), on the logits' device, in one pass over chunks of
    classes.

    Sigmoid scores are compared with a threshold t as logits against logit(t): the same decision as sigmoid(x) >= t
    computed exactly (float32 sigmoid rounds values within ~1e-8 of t onto t).

    Args:
        logits: (N, C) model outputs (float16 or float32).
        target: (N, C) int8 / float targets.
        schema: The label schema (classes, groups, tree): what the group metrics score (default: one multi-label
            block of classes named by their index).
        scoring: The schema the model's outputs are scored with (timm_ml.models.scoring_schema; default `schema`).
        threshold: Global probability threshold of the multi-label block.
        thresholds: Optional (C,) per-class thresholds (used on the multi-label block only).
        topk: k for the top-k metrics of the multi-label block.
    """
    num_rows, num_classes = logits.shape
    check_targets(target)
    schema = schema or LabelSchema([str(i) for i in range(num_classes)])
    scoring = scoring or schema
    device = logits.device
    ml = torch.as_tensor(scoring.multilabel, dtype=torch.long)
    ml_mask = torch.zeros(num_classes, dtype=torch.bool)
    ml_mask[ml] = True
    if scoring.groups:
        rank_scores = scores_from_logits(logits.float(), scoring)  # softmax per group, compared as probabilities
        rank_scores[:, ml.to(device)] = logits[:, ml.to(device)].float()  # logits rank without sigmoid saturation ties
        group_pred = torch.from_numpy(decode(rank_scores.cpu().numpy(), scoring)).to(device)
    else:
        rank_scores, group_pred = logits, None
    kth = topk_thresholds(rank_scores[:, ml.to(device)] if scoring.groups else rank_scores, topk) \
        if num_rows and len(ml) else None
    class_cuts = None if thresholds is None else _logit(thresholds)
    stats = block_class_statistics(rank_scores, target, ml_mask, _logit(threshold), class_cuts, kth, group_pred)
    if scoring.tag_parents:
        gate_tags(stats, rank_scores, target, scoring, group_pred, _logit(threshold), class_cuts)
    found = None
    if schema.groups:
        scores_np = (scores_from_logits(logits.float(), scoring)).cpu().numpy()
        found = group_metrics(scores_np, target.cpu().numpy(), schema, conditional=bool(scoring.groups))
    return summarize(stats, schema, scoring, threshold, thresholds, topk, found)


def gate_tags(stats, rank_scores, target, scoring: LabelSchema, group_pred, cut, class_cuts=None):
    """A tag that sits under a parent label is predicted only where its parent is (the one decoder, schema.decode):
    its TP / FP / FN at the global and per-class thresholds are counted so, as infer.py and the exports decide."""
    for child, parent in scoring.tag_parents.items():
        c, p = scoring.column(child), scoring.column(parent)
        under = group_pred[:, p].to(rank_scores.device)
        s, t = rank_scores[:, c].float(), target[:, c]
        stats['thr'][:, c] = confusion_counts(((s >= cut.to(s.device)) & under)[:, None], t[:, None])[:, 0]
        if class_cuts is not None:
            own = class_cuts[c].to(s.device)
            stats['pcthr'][:, c] = confusion_counts(((s >= own) & under)[:, None], t[:, None])[:, 0]


def check_targets(target: torch.Tensor):
    """Targets are 1 / 0 / -1: another value would be counted as some other state (in the 16-bit path, in a
    neighbouring class's histogram)."""
    if not target.numel():
        return
    if target.is_floating_point() and bool((target != target.round()).any()):
        raise ValueError('targets must be 1 / 0 / -1, got fractional values (soft targets: round them first)')
    low, high = target.aminmax()
    if low < -1 or high > 1:
        raise ValueError(f'targets must be 1 / 0 / -1, got values from {low.item():g} to {high.item():g}')


def topk_thresholds(scores: torch.Tensor, topk: int) -> torch.Tensor:
    """(N,) k-th largest score of each row: an entry is in its row's top-k when its score is at least this."""
    return _topk_kth_value(scores, topk)


def summarize(stats, schema: LabelSchema, scoring: LabelSchema, threshold: float, thresholds, topk: int,
              found=None) -> MultiLabelResult:
    """The summary, per-class table and group metrics of per-class statistics (block_class_statistics, or the
    class slices of every rank put together)."""
    num_classes = schema.num_classes
    classes = schema.classes
    ml_mask = torch.zeros(num_classes, dtype=torch.bool)
    ml_mask[torch.as_tensor(scoring.multilabel, dtype=torch.long)] = True
    scored = ml_mask if ml_mask.any() else torch.ones(num_classes, dtype=torch.bool)  # columns of mAP and CP..OF1
    ap, positives, unknown = stats['ap'].cpu(), stats['positives'].cpu(), stats['unknown'].cpu()
    counts = {k: stats[k].cpu() for k in ('thr', 'top', 'pcthr')}
    valid = positives > 0

    mean_over = valid & scored
    summary = OrderedDict(map=100 * ap[mean_over].mean().item() if mean_over.any() else float('nan'))
    # CP / CR / CF1 average over the classes mAP averages over (a known positive), OP / OR / OF1 over every entry
    summary.update(precision_recall_f1(counts['thr'][:, scored], per_class=valid[scored]))
    if ml_mask.any():
        summary.update(precision_recall_f1(counts['top'][:, ml_mask], prefix=f'top{topk}_', per_class=valid[ml_mask]))
    if thresholds is not None:
        summary.update(precision_recall_f1(counts['pcthr'][:, scored], prefix='thr_', per_class=valid[scored]))

    attributes, levels = {}, {}
    if found is not None:
        attributes, levels = found['groups'], found['levels']
        reported = []
        for g in schema.groups:
            if g.parent is None:
                for k in ('acc', 'bacc', 'macro_f1'):
                    summary[f'{g.key}_{k}'] = attributes[g.key][k]
                reported.append(attributes[g.key])
        for name, m in levels.items():
            if schema.group_of_column(schema.levels()[name][0]).parent is not None:
                for k in ('acc', 'bacc', 'macro_f1'):
                    summary[f'level_{name}_{k}'] = m[k]
                reported.append(m)
        for k in ('acc', 'bacc', 'macro_f1'):
            values = [m[k] for m in reported if m['known']]
            summary[f'attr_mean_{k}'] = sum(values) / len(values) if values else float('nan')
        if 'consistency' in found:
            summary['hier_consistency'] = found['consistency']
            summary['hier_consistency_raw'] = found['consistency_raw']

    table_counts = counts['pcthr'] if thresholds is not None else counts['thr']
    precision, recall, f1 = per_class_f1(table_counts)
    per_class = []
    for i, name in enumerate(classes):
        group = schema.group_of_column(i)
        per_class.append(OrderedDict(
            index=i, name=name, ap=100 * ap[i].item() if valid[i] else float('nan'),
            positives=int(positives[i]), unknown=int(unknown[i]),
            precision=100 * precision[i].item(), recall=100 * recall[i].item(), f1=100 * f1[i].item(),
            threshold=(float(thresholds[i]) if thresholds is not None else threshold) if ml_mask[i] else float('nan'),
            group=group.key if group is not None else ''))
    excluded = [classes[i] for i in range(num_classes) if not valid[i] and scored[i]]
    return MultiLabelResult(summary, per_class, excluded, attributes, levels)
