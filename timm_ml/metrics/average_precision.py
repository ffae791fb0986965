""" Exact (non-interpolated) average precision and threshold counts, unknown targets excluded per class, in one pass.

For each class, AP = mean over its positives p of TP(score >= s_p) / K(score >= s_p), K counting known entries:
tied scores form one threshold, exactly sklearn's average_precision_score on the known entries. Nothing is sorted but
the positives: every known entry is bucketed (one binary search) among its class's sorted positive scores merged with
the class's decision thresholds, and the bucket counts give K at every positive and at every threshold. So AP, the
counts at the global threshold and at the per-class thresholds come out of the same pass; top-k needs one comparison
more. At Open Images sizes (200k x 10k) that is a few passes over the scores in total, in chunks of classes, on the
device the scores are on.

Scores stored in a 16-bit float (validate.py --store-dtype float16) take a faster exact path, histogram_statistics: a
16-bit value has at most 2^16 bit patterns, so one bincount per class of (pattern, known negative / positive) gives K
and TP at every value, with no sort, no search and no transpose: 2.2x faster than the bucketing pass on the same
values, 200k x 10k in 41 s on a 2-core CPU (bench/scale.py).
"""
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple

import torch


class NonFiniteScoresError(ValueError):
    """The model's outputs hold NaN / inf: no metric of them means anything."""


def class_chunk(scores: torch.Tensor, target: torch.Tensor, start: int, size: int):
    """Contiguous (c, N) float32 scores and int8 targets of classes start..start+size, unknown entries' scores set to
    -inf in the same pass as the transpose; non-finite scores of known entries are an error."""
    t = target[:, start:start + size].t().to(torch.int8).contiguous()
    ninf = torch.tensor(float('-inf'), dtype=torch.float32, device=scores.device)
    # float32 before the cuts meet them: a 16-bit compare would round logit(threshold) to the nearest 16-bit value
    s = torch.where(t >= 0, scores[:, start:start + size].t().float(), ninf)
    # max, not sum: a sum of large finite scores overflows; max propagates NaN
    if s.numel() and (torch.isnan(top := s.max()) or top == float('inf')):
        raise NonFiniteScoresError('Non-finite scores in the evaluation (NaN or inf model outputs): the model diverged '
                                   '(lower --lr, or use --amp with a loss scaler / --clip-grad)')
    return s, t


def block_statistics(scores: torch.Tensor, target: torch.Tensor, cuts: Optional[torch.Tensor] = None,
                     kth: Optional[torch.Tensor] = None):
    """ AP and decision counts of contiguous class rows.

    Args:
        scores: (c, N) float32 scores (or logits: any monotone transform gives the same AP), -inf where the target is
            unknown (class_chunk makes them so).
        target: (c, N) int8 targets, 1 / 0 / -1.
        cuts: optional (c, m) decision thresholds on the same scale: an entry is predicted when score >= cut.
        kth: optional (N,) per-sample top-k threshold (the k-th largest score of each sample).
    Returns:
        dict(ap (c,) float64 (0 without a known positive), positives (c,), unknown (c,), and for the cuts a (c, m, 3)
        and for kth a (c, 3) int64 tensor of TP, FP, FN counts over known entries).
    """
    c, n = scores.shape
    device = scores.device
    ninf = torch.tensor(float('-inf'), dtype=scores.dtype, device=device)
    known = target >= 0
    positive = target == 1
    rows, cols = positive.nonzero(as_tuple=True)
    values = scores[rows, cols]
    if bool(torch.isinf(values).any()):
        raise NonFiniteScoresError('Non-finite scores in the evaluation (inf model outputs at known positives): the '
                                   'model diverged (lower --lr, or --clip-grad)')
    num_pos = torch.bincount(rows, minlength=c)
    max_pos = max(int(num_pos.max()) if c else 0, 1)
    # the positives of each row ascending, left-padded with -inf to max_pos
    order = torch.argsort(values, stable=True)
    order = order[torch.argsort(rows[order], stable=True)]
    r_sorted, v_sorted = rows[order], values[order]
    row_start = torch.cumsum(num_pos, 0) - num_pos
    slot = torch.arange(len(order), device=device) - row_start[r_sorted] + (max_pos - num_pos[r_sorted])
    pos_sorted = torch.full((c, max_pos), float('-inf'), dtype=scores.dtype, device=device)
    pos_sorted[r_sorted, slot] = v_sorted
    m = 0 if cuts is None else cuts.shape[1]
    edges = pos_sorted if not m else torch.cat([pos_sorted, cuts.to(scores.dtype).to(device)], 1)
    edges, perm = edges.sort(dim=1, stable=True)
    where = perm.argsort(dim=1)  # the merged position of each positive / cut edge
    # bucket of each known entry = how many edges are <= it; unknowns are -inf: they sit with the padding and are
    # never counted at a real positive or threshold
    bucket = torch.searchsorted(edges, scores, right=True, out_int32=True)
    width = edges.shape[1] + 1
    bucket += (torch.arange(c, device=device, dtype=torch.int32) * width).unsqueeze(1)
    counts = torch.bincount(bucket.view(-1), minlength=c * width).view(c, width)
    at_or_above = counts.flip(1).cumsum(1).flip(1)[:, 1:]  # [:, k]: known entries >= edges[:, k]
    known_ge_pos = at_or_above.gather(1, where[:, :max_pos])
    tp_pos = max_pos - torch.searchsorted(pos_sorted, pos_sorted, right=False)
    precision = torch.where(pos_sorted > ninf, tp_pos.double() / known_ge_pos.clamp(min=1).double(),
                            torch.zeros((), dtype=torch.float64, device=device))
    out = dict(ap=precision.sum(1) / num_pos.clamp(min=1).double(), positives=num_pos,
               unknown=n - known.sum(1))
    if m:
        known_ge_cut = at_or_above.gather(1, where[:, max_pos:])
        tp = max_pos - torch.searchsorted(pos_sorted, cuts.to(scores.dtype).to(device).contiguous(), right=False)
        out['cut_counts'] = torch.stack([tp, known_ge_cut - tp, num_pos.unsqueeze(1) - tp], -1)
    if kth is not None:
        kth = kth.to(scores.dtype).to(device)
        known_ge = ((scores >= kth.unsqueeze(0)) & known).sum(1)  # unknowns are -inf: a -inf kth would take them
        tp = torch.bincount(rows[values >= kth[cols]], minlength=c)
        out['top_counts'] = torch.stack([tp, known_ge - tp, num_pos - tp], -1)
    return out


PATTERNS = 1 << 16
HALF = 1 << 15  # pattern index = signed 16-bit pattern + 2^15: [0, 2^15) holds -0 .. -NaN, [2^15, 2^16) +0 .. +NaN
HISTOGRAM_DTYPES = (torch.float16, torch.bfloat16)
_PATTERN_VALUES = {}


def _pattern_values(dtype, device):
    """float32 value of every pattern index of a 16-bit float dtype."""
    key = (dtype, str(device))
    if key not in _PATTERN_VALUES:
        patterns = (torch.arange(PATTERNS, dtype=torch.int32) - HALF).to(torch.int16)
        _PATTERN_VALUES[key] = patterns.view(dtype).float().to(device)
    return _PATTERN_VALUES[key]


def _pattern_index(values: torch.Tensor) -> torch.Tensor:
    return values.view(torch.int16).long() + HALF


def _first_pattern_at_or_above(cuts: torch.Tensor, dtype) -> torch.Tensor:
    """Pattern index of the smallest `dtype` value >= each float32 cut (-0 never: +0 holds both zeros)."""
    rounded = cuts.to(dtype) + 0  # nearest value; -0 + 0 is +0
    index = _pattern_index(rounded)
    up = rounded.float() < cuts  # rounded down: step one value up
    step_up = torch.where(index >= HALF, index + 1, index - 1)  # negatives grow toward -0 as the magnitude shrinks
    step_up = torch.where(step_up == 0, torch.full_like(step_up, HALF), step_up)  # -0 -> +0
    return torch.where(up, step_up, index)


def _bincount(index: torch.Tensor, size: int) -> torch.Tensor:
    # torch's CPU bincount is one thread: two halves counted at once (torch ops release the GIL)
    flat = index.view(-1)
    if flat.device.type != 'cpu' or flat.numel() < (1 << 20) or torch.get_num_threads() < 2:
        return torch.bincount(flat, minlength=size)
    half = flat.numel() // 2
    first = _thread_pool().submit(torch.bincount, flat[:half], minlength=size)
    second = torch.bincount(flat[half:], minlength=size)
    return second.add_(first.result())


@functools.lru_cache(maxsize=None)
def _thread_pool():
    return ThreadPoolExecutor(1)


def histogram_statistics(scores: torch.Tensor, target: torch.Tensor, cuts: Optional[torch.Tensor] = None):
    """ AP and decision counts of (N, c) 16-bit scores, exact, from one histogram of bit patterns per class.

    Args:
        scores: (N, c) float16 / bfloat16 scores or logits, any strides with a unit last stride (a column slice of the
            stored outputs: no copy, no transpose).
        target: (N, c) int8 targets, 1 / 0 / -1.
        cuts: optional (c, m) float32 decision thresholds: an entry is predicted when score >= cut.
    Returns:
        dict(ap (c,) float64, positives (c,), unknown (c,), and for the cuts a (c, m, 3) int64 tensor of TP, FP, FN),
        equal to block_statistics' on the same values.
    """
    n, c = scores.shape
    device = scores.device
    index = scores.view(torch.int16).to(torch.int32, memory_format=torch.contiguous_format)
    index.add_(target.to(torch.int32), alpha=PATTERNS)  # unknown / negative / positive: three pattern ranges a class
    index += (torch.arange(c, dtype=torch.int32, device=device) * (3 * PATTERNS) + (HALF + PATTERNS)).unsqueeze(0)
    counts = _bincount(index, c * 3 * PATTERNS).view(c, 3, PATTERNS)[:, 1:]  # (c, {negative, positive}, pattern)
    del index
    counts[:, :, HALF] += counts[:, :, 0]  # -0 == +0: one value
    counts[:, :, 0] = 0
    values = _pattern_values(scores.dtype, device)
    if bool(counts[:, :, torch.isnan(values) | (values == float('inf'))].any()):
        raise NonFiniteScoresError('Non-finite scores in the evaluation (NaN or inf model outputs): the model diverged '
                                   '(lower --lr, or use --amp with a loss scaler / --clip-grad)')
    if bool(counts[:, 1, values == float('-inf')].any()):
        raise NonFiniteScoresError('Non-finite scores in the evaluation (inf model outputs at known positives): the '
                                   'model diverged (lower --lr, or --clip-grad)')
    cumulative = counts.cumsum(2)
    totals = cumulative[:, :, -1]  # (c, 2)
    at_or_above_zero = totals - cumulative[:, :, HALF - 1]

    def at_or_above(cls, pattern):
        """(2, len): known negatives and positives of classes `cls` with a value >= the value of `pattern`."""
        positive_side = totals[cls].t() - cumulative[cls, :, (pattern - 1).clamp(min=0)].t()
        negative_side = at_or_above_zero[cls].t() + cumulative[cls, :, pattern].t()  # magnitudes <= |value|
        return torch.where(pattern >= HALF, positive_side, negative_side)

    num_pos = totals[:, 1]
    cls, pattern = counts[:, 1].nonzero(as_tuple=True)  # every distinct positive value: one threshold of ties
    ge = at_or_above(cls, pattern)
    precision = ge[1].double() / ge.sum(0).double()
    ap = torch.zeros(c, dtype=torch.float64, device=device).index_add_(
        0, cls, counts[:, 1][cls, pattern].double() * precision)
    out = dict(ap=ap / num_pos.clamp(min=1).double(), positives=num_pos, unknown=n - totals.sum(1))
    if cuts is not None:
        m = cuts.shape[1]
        pattern = _first_pattern_at_or_above(cuts.to(device).float(), scores.dtype).reshape(-1)
        ge = at_or_above(torch.arange(c, device=device).repeat_interleave(m), pattern).view(2, c, m)
        tp, known_ge = ge[1], ge.sum(0)
        out['cut_counts'] = torch.stack([tp, known_ge - tp, num_pos.unsqueeze(1) - tp], -1)
    return out


def top_counts(scores: torch.Tensor, target: torch.Tensor, kth: torch.Tensor,
               chunk_elements: int = 1 << 24) -> torch.Tensor:
    """(C, 2) TP, FP at top-k over known entries: an entry is predicted when its score >= its row's kth, in
    contiguous row chunks (one comparison per entry; only the few predicted entries are gathered)."""
    num_rows, num_classes = scores.shape
    device = scores.device
    tp = torch.zeros(num_classes, dtype=torch.int64, device=device)
    fp = torch.zeros(num_classes, dtype=torch.int64, device=device)
    step = max(1, chunk_elements // max(num_classes, 1))
    for r in range(0, num_rows, step):
        block = scores[r:r + step]
        rows, cols = (block >= kth[r:r + step].to(device, block.dtype).unsqueeze(1)).nonzero(as_tuple=True)
        hit = target[r:r + step][rows, cols]
        tp += torch.bincount(cols[hit == 1], minlength=num_classes)
        fp += torch.bincount(cols[hit == 0], minlength=num_classes)
    return torch.stack([tp, fp], -1)


def masked_average_precision(
        scores: torch.Tensor, target: torch.Tensor, chunk_elements: int = 1 << 24) -> Tuple[torch.Tensor, torch.Tensor]:
    """ Per-class AP and a mask of the classes that have at least one known positive.

    Args:
        scores: (N, C) scores or logits, float16/32.
        target: (N, C) targets, 1 / 0 / -1 (unknown).
        chunk_elements: Bound on the elements handled at once.
    Returns:
        ap: (C,) float64 AP (0 where a class has no known positive), valid: (C,) bool, on the scores' device.
    """
    num_examples, num_classes = scores.shape
    ap = torch.zeros(num_classes, dtype=torch.float64, device=scores.device)
    valid = torch.zeros(num_classes, dtype=torch.bool, device=scores.device)
    chunk = max(1, chunk_elements // max(num_examples, 1))
    for i in range(0, num_classes, chunk):
        s, t = class_chunk(scores, target, i, chunk)
        stats = block_statistics(s, t)
        ap[i:i + chunk] = stats['ap']
        valid[i:i + chunk] = stats['positives'] > 0
    return ap, valid
