""" Per-class thresholds that maximise F1 on a (held-out) split."""
import csv
from typing import Sequence

import numpy as np
import torch

from timm_ml.utils.escape import read_spreadsheet_cell, spreadsheet_cell
from timm_ml.utils.writer import check_writable, write_file


class ThresholdFileError(ValueError):
    """A thresholds file that does not fit the model; the message names the file (and row)."""


def estimate_thresholds(scores: torch.Tensor, target: torch.Tensor, default: float = 0.5, columns=None) -> torch.Tensor:
    """ Per class, the probability threshold t maximising F1 of (score >= t) over known entries.

    t is placed halfway between the last included score and the next lower distinct score, so that small numeric
    differences do not flip the decision. Classes without a known positive keep `default`.

    Args:
        scores: (N, C) probabilities from the one scoring function (timm_ml.scoring).
        target: (N, C) targets, 1 / 0 / -1.
        columns: The columns to tune (the multi-label block); the others keep `default` and are not used (exclusive
            groups decide by argmax).
    """
    num_classes = scores.shape[1]
    thresholds = torch.full((num_classes,), default, dtype=torch.float64)
    for c in (range(num_classes) if columns is None else [int(c) for c in columns]):
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
    """index,class,threshold rows (the one output writer: whole, never over a file that is not ours)."""
    def write(tmp):
        with open(tmp, 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['index', 'class', 'threshold'])
            for i, (c, t) in enumerate(zip(classes, thresholds)):
                w.writerow([i, spreadsheet_cell(c), f'{float(t):.6g}'])
    return write_file(path, write, 'thresholds file', kinds=('thresholds',))


def save_thresholds(path_npy: str, classes: Sequence[str], thresholds) -> str:
    """thresholds.npy (one value per class) and the .csv beside it (index, class, threshold); returns the .csv."""
    thresholds = np.asarray(thresholds, dtype=np.float32)
    csv_path = path_npy[:-4] + '.csv' if path_npy.endswith('.npy') else path_npy + '.csv'
    check_writable(path_npy, 'thresholds file', kinds=('thresholds',))
    save_thresholds_csv(csv_path, classes, thresholds)
    def write_npy(tmp):
        with open(tmp, 'wb') as f:
            np.save(f, thresholds)
    write_file(path_npy, write_npy, 'thresholds file', kinds=('thresholds',))
    return csv_path


def read_thresholds(path: str, classes: Sequence[str]) -> np.ndarray:
    """Per-class thresholds from a .npy (one value per class) or the .csv save_thresholds writes (index, class,
    threshold; names checked): one per class in range (0, 1), or an error naming the file."""
    if path.endswith('.csv'):
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {'index', 'class', 'threshold'} <= set(reader.fieldnames):
                raise ThresholdFileError(f'{path}: row 1: expected columns index,class,threshold, got '
                                         f'{reader.fieldnames}')
            rows = list(reader)
        values = np.full(len(classes), np.nan, dtype=np.float32)
        for n, r in enumerate(rows, start=2):
            try:
                i, value = int(r['index']), float(r['threshold'])
            except (TypeError, ValueError):
                raise ThresholdFileError(f'{path}: row {n}: index {r["index"]!r} / threshold {r["threshold"]!r} '
                                         'is not a number') from None
            r['class'] = read_spreadsheet_cell(r['class'] or '')
            if not 0 <= i < len(classes) or r['class'] != classes[i]:
                raise ThresholdFileError(f'{path}: row {n}: class {r["class"]!r} at index {i} is not the model\'s '
                                         'class there')
            if not np.isnan(values[i]):
                raise ThresholdFileError(f'{path}: row {n}: a second threshold for class {r["class"]!r}')
            if not 0 < value < 1:
                raise ThresholdFileError(f'{path}: row {n}: threshold {r["threshold"]!r} of class {r["class"]!r} '
                                         'is not in (0, 1)')
            values[i] = value
        if np.isnan(values).any():
            missing = [c for c, v in zip(classes, values) if np.isnan(v)]
            raise ThresholdFileError(f'{path}: {len(missing)} classes have no threshold, e.g. {missing[:5]}')
    else:
        try:
            values = np.asarray(np.load(path, allow_pickle=False), dtype=np.float32).reshape(-1)
        except (ValueError, OSError, EOFError) as e:
            raise ThresholdFileError(f'{path}: not a .npy array of thresholds ({e})') from None
    if len(values) != len(classes):
        raise ThresholdFileError(f'{path}: {len(values)} thresholds for {len(classes)} classes')
    bad = np.flatnonzero(~((values > 0) & (values < 1)))
    if len(bad):
        raise ThresholdFileError(f'{path}: thresholds must lie in (0, 1); class {classes[bad[0]]!r} has '
                                 f'{values[bad[0]]}')
    return values
