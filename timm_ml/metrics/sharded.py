""" Evaluation at Open Images size: known-entries-only storage when most targets are unknown, and class-sliced
scoring under DDP (each rank scores a slice of the classes instead of every rank gathering every output).

Sparse storage keeps, per known entry, its row, class, logit and target (plus each row's top-k threshold, taken when
the row is seen whole): memory grows with the known entries, not with images x classes. The exact AP of a class comes
from its known entries sorted by score (ties forming one threshold, sklearn's definition), and the threshold / top-k
counts from comparisons per entry, so the numbers equal the dense path's.
"""
from typing import Dict, List, Optional

import torch
import torch.distributed as dist


def sparse_class_statistics(rows: torch.Tensor, cols: torch.Tensor, scores: torch.Tensor, targets: torch.Tensor,
                            num_rows: int, num_classes: int, cut: torch.Tensor, class_cuts: Optional[torch.Tensor],
                            kth: Optional[torch.Tensor], class_offset: int = 0) -> Dict[str, torch.Tensor]:
    """ Per-class statistics (as block_class_statistics) of known entries only.

    Args:
        rows, cols: (K,) row (sample) and class index of each known entry; cols relative to `class_offset`.
        scores: (K,) logits. targets: (K,) 0 / 1. num_rows: Samples in total (for the unknown counts).
        num_classes: Classes of this slice. cut: global threshold (a logit). class_cuts: (num_classes,) or None.
        kth: (num_rows,) top-k threshold of each sample, or None.
    """
    device = scores.device
    scores = scores.float()
    cols = cols.long() - class_offset
    order = torch.argsort(scores, descending=True, stable=True)
    order = order[torch.argsort(cols[order], stable=True)]
    c, s, t = cols[order], scores[order], targets[order].to(torch.int64)
    n = len(c)
    positive = (t == 1).to(torch.float64)
    known_per_class = torch.bincount(c, minlength=num_classes)
    pos_per_class = torch.bincount(c, weights=positive, minlength=num_classes).to(torch.int64)
    start = torch.cumsum(known_per_class, 0) - known_per_class
    index = torch.arange(n, device=device)
    cum_pos = torch.cumsum(positive, 0)
    before = (cum_pos - positive)[start.clamp(max=max(n - 1, 0))] if n else cum_pos
    cum_pos_in = cum_pos - before[c] if n else cum_pos
    count_in = (index - start[c] + 1).to(torch.float64)
    # precision is taken at the end of each run of tied scores within a class
    ends = torch.ones(n, dtype=torch.bool, device=device)
    if n > 1:
        ends[:-1] = (c[:-1] != c[1:]) | (s[:-1] != s[1:])
    marker = torch.where(ends, index, torch.full_like(index, n))
    group_end = marker.flip(0).cummin(0).values.flip(0) if n else marker
    precision = cum_pos_in[group_end] / count_in[group_end] if n else cum_pos_in
    ap = torch.zeros(num_classes, dtype=torch.float64, device=device)
    ap.index_add_(0, c, precision * positive)
    ap = ap / pos_per_class.clamp(min=1).to(torch.float64)

    def counts(predicted):
        tp = torch.bincount(c[predicted & (t == 1)], minlength=num_classes)
        fp = torch.bincount(c[predicted & (t == 0)], minlength=num_classes)
        return torch.stack([tp, fp, pos_per_class - tp]).double()

    out = dict(ap=ap, positives=pos_per_class, unknown=num_rows - known_per_class)
    out['thr'] = counts(s >= cut.to(device).float())
    out['pcthr'] = counts(s >= class_cuts.to(device).float()[c]) if class_cuts is not None else \
        torch.zeros(3, num_classes, dtype=torch.float64, device=device)
    out['top'] = counts(s >= kth.to(device).float()[rows[order].long()]) if kth is not None else \
        torch.zeros(3, num_classes, dtype=torch.float64, device=device)
    return out


def class_slices(num_classes: int, world_size: int) -> List[range]:
    """The contiguous class slice each rank scores."""
    bounds = [num_classes * r // world_size for r in range(world_size + 1)]
    return [range(bounds[r], bounds[r + 1]) for r in range(world_size)]


def _gather_to(tensor: torch.Tensor, dst: int, device) -> Optional[List[torch.Tensor]]:
    """Every rank's `tensor` (same trailing shape, any length) on rank `dst`, in rank order; None elsewhere."""
    world = dist.get_world_size()
    length = torch.tensor([tensor.shape[0]], dtype=torch.int64, device=device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    longest = max(int(x) for x in lengths)
    padded = torch.zeros((longest,) + tuple(tensor.shape[1:]), dtype=tensor.dtype, device=device)
    padded[:tensor.shape[0]] = tensor.to(device)
    mine = dist.get_rank() == dst
    parts = [torch.empty_like(padded) for _ in range(world)] if mine else None
    dist.gather(padded, parts, dst=dst)
    if not mine:
        return None
    return [p[:int(n)] for p, n in zip(parts, lengths)]


def all_gather_rows(tensor: torch.Tensor, device) -> torch.Tensor:
    """Rows of every rank, in rank order, on every rank."""
    world = dist.get_world_size()
    length = torch.tensor([tensor.shape[0]], dtype=torch.int64, device=device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    longest = max(int(x) for x in lengths)
    padded = torch.zeros((longest,) + tuple(tensor.shape[1:]), dtype=tensor.dtype, device=device)
    padded[:tensor.shape[0]] = tensor.to(device)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(n)] for p, n in zip(parts, lengths)])


def merge_slices(local: Dict[str, torch.Tensor], slices: List[range], device) -> Dict[str, torch.Tensor]:
    """The full per-class statistics from every rank's slice (all ranks get them)."""
    out = {}
    for key in ('ap', 'positives', 'unknown'):
        out[key] = all_gather_rows(local[key].to(device), device)
    for key in ('thr', 'pcthr', 'top'):
        out[key] = all_gather_rows(local[key].t().contiguous().to(device), device).t()
    return out
