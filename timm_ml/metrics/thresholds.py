""" Per-class thresholds that maximise F1 on a (held-out) split."""
import csv
from typing import Sequence

import numpy as np
import torch


def estimate_thresholds(scores: torch.Tensor, target: torch.Tensor, default: float = 0.5) -> torch.Tensor:
    """ Per class, the probability threshold t maximising F1 of (score >= t) over known entries.

    t is placed halfway between the last included score and the next lower distinct score, so that small numeric
    differences do not flip the decision. Classes without a known positive keep `default`.

    Args:
        scores: (N, C) probabilities.
        target: (N, C) targets, 1 / 0 / -1.
    """
    num_classes = scores.shape[1]
    thresholds = torch.full((num_classes,), default, dtype=torch.float64)
    for c in range(num_classes):
        known = target[:, c] >= 0
        s = scores[known, c].double()
        y = (target[known, c] == 1).double()
        num_pos = y.sum()
        if num_pos == 0:
            continue
        s, order = s.sort(descending=True)
        y = y[order]
        tp = y.cumsum(0)
        fp = (1 - y).cumsum(0)
        ends = torch.ones_like(s, dtype=torch.bool)
        ends[:-1] = s[:-1] != s[1:]
        f1 = torch.where(ends, 2 * tp / (tp + fp + num_pos), torch.full_like(tp, -1.))
        best = int(f1.argmax())
        lower = s[best + 1] if best + 1 < len(s) else s[best] - 1e-6
        thresholds[c] = float((s[best] + lower) / 2)
    return thresholds.clamp(1e-7, 1 - 1e-7)


def save_thresholds_csv(path: str, classes: Sequence[str], thresholds: Sequence[float]):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['index', 'class', 'threshold'])
        for i, (c, t) in enumerate(zip(classes, thresholds)):
            w.writerow([i, c, f'{float(t):.6g}'])


def save_thresholds(path_npy: str, classes: Sequence[str], thresholds) -> str:
    thresholds = np.asarray(thresholds, dtype=np.float32)
    np.save(path_npy, thresholds)
    csv_path = path_npy[:-4] + '.csv' if path_npy.endswith('.npy') else path_npy + '.csv'
    save_thresholds_csv(csv_path, classes, thresholds)
    return csv_path
