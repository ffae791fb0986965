""" Sparse multi-label targets

One target encoding for every label format: float per class, 1 positive, 0 negative, -1 unknown.
Rows are stored CSR-style (int32 class indices + int8 values) around a fill value, so a label file of
millions of images x ~10k classes costs a few bytes per annotation. Rows are densified per sample.
"""
from array import array
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1


def known_mask(target):
    """Entries with a known target (hard 0 / 1 or soft in [0, 1] after mixup / smoothing)."""
    return target >= 0


def unknown_mask(target):
    """Unknown (-1) entries; mixup keeps an entry unknown when either mixed image did not annotate it."""
    return target < 0


def positive_weight(target):
    """Weight of the positive term of a binary loss: y on known entries (1 for a hard positive), 0 on unknowns."""
    return target.clamp(min=0).float()


def negative_weight(target):
    """Weight of the negative term: 1 - y on known entries (1 for a hard negative), 0 on unknowns."""
    return torch.where(target >= 0, 1. - target.float(), torch.zeros_like(target, dtype=torch.float32))


def smooth_known(target, smoothing: float):
    """timm's multi-label smoothing (y * (1 - s) + s / 2) on known entries; unknowns stay -1."""
    if not smoothing:
        return target
    return torch.where(target >= 0, target * (1. - smoothing) + 0.5 * smoothing, target)


@dataclass
class SparseTargets:
    """ Per-image targets stored as the entries that differ from `fill`.

    Args:
        num_classes: Number of classes (C).
        indptr: (N + 1,) int64 row offsets into `indices` / `values`.
        indices: int32 class indices.
        values: int8 values (1, 0 or -1) of those entries.
        fill: Value of every entry not listed (0 for label lists, -1 where most entries are unannotated).
    """
    num_classes: int
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    fill: int = NEGATIVE

    def __len__(self):
        return len(self.indptr) - 1

    def row(self, i: int) -> np.ndarray:
        """Dense float32 (C,) target of image i."""
        out = np.full(self.num_classes, self.fill, dtype=np.float32)
        s, e = self.indptr[i], self.indptr[i + 1]
        out[self.indices[s:e]] = self.values[s:e]
        return out

    def dense(self, rows: Optional[Sequence[int]] = None, dtype=np.int8) -> np.ndarray:
        """Dense (N, C) matrix of the given rows (all rows by default)."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        out = np.full((len(rows), self.num_classes), self.fill, dtype=dtype)
        for r, i in enumerate(rows):
            s, e = self.indptr[i], self.indptr[i + 1]
            out[r, self.indices[s:e]] = self.values[s:e]
        return out

    def subset(self, rows: Sequence[int]) -> 'SparseTargets':
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        take = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(rows) else np.zeros(0, np.int64)
        return SparseTargets(self.num_classes, indptr, self.indices[take], self.values[take], self.fill)

    def class_counts(self) -> np.ndarray:
        """(3, C) counts of positive, negative and unknown entries per class."""
        n = len(self)
        counts = np.zeros((3, self.num_classes), dtype=np.int64)
        for row, value in enumerate((POSITIVE, NEGATIVE, UNKNOWN)):
            counts[row] = np.bincount(self.indices[self.values == value], minlength=self.num_classes)
        fill_row = {POSITIVE: 0, NEGATIVE: 1, UNKNOWN: 2}[self.fill]
        listed = np.bincount(self.indices, minlength=self.num_classes)
        counts[fill_row] += n - listed
        return counts

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> 'SparseTargets':
        """Build from a dense (N, C) matrix, storing around its most common value."""
        dense = np.asarray(dense)
        values, counts = np.unique(dense, return_counts=True)
        fill = int(values[np.argmax(counts)])
        rows, cols = np.nonzero(dense != fill)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        return cls(dense.shape[1], indptr, cols.astype(np.int32), dense[rows, cols].astype(np.int8), fill)


class SparseTargetsBuilder:
    """ The one builder of sparse targets: rows of (class index, value) pairs appended into flat int32 / int8 arrays,
    so millions of images stay cheap. Duplicate indices in a row keep the first value.

    Args:
        num_classes: Number of classes, or None while a reader still discovers them (set it before build()).
        fill: Value of every entry a row does not list.
    """

    def __init__(self, num_classes: Optional[int] = None, fill: int = NEGATIVE):
        self.num_classes = num_classes
        self.fill = fill
        self._lengths = array('q')
        self._indices = array('i')
        self._values = array('b')
        self._all_unknown = []  # rows with every class unknown, filled in at build() once the classes are known

    def __len__(self):
        return len(self._lengths)

    def add(self, indices: Sequence[int], values=POSITIVE):
        """Append one row; `values` is one value for every index or one per index."""
        values = [values] * len(indices) if isinstance(values, int) else list(values)
        if len(values) != len(indices):
            raise ValueError(f'{len(indices)} class indices but {len(values)} values')
        if len(set(indices)) != len(indices):
            first = dict(zip(reversed(indices), reversed(values)))  # reversed: the first occurrence wins
            indices, values = [i for i in dict.fromkeys(indices)], [first[i] for i in dict.fromkeys(indices)]
        self._lengths.append(len(indices))
        self._indices.extend(indices)
        self._values.extend(values)

    def add_unknown_row(self):
        """Append a row whose every class is unknown (an unannotated image)."""
        self._all_unknown.append(len(self._lengths))
        self._lengths.append(0)

    def build(self, remap: Optional[np.ndarray] = None) -> SparseTargets:
        """The targets; `remap[old index] = new index` renumbers the classes (e.g. after sorting them)."""
        if self.num_classes is None:
            raise ValueError('num_classes must be set before build()')
        indices = np.frombuffer(self._indices, dtype=np.int32).copy() if len(self._indices) else np.zeros(0, np.int32)
        values = np.frombuffer(self._values, dtype=np.int8).copy() if len(self._values) else np.zeros(0, np.int8)
        if remap is not None and len(indices):
            indices = np.asarray(remap, dtype=np.int32)[indices]
        lengths = np.frombuffer(self._lengths, dtype=np.int64).copy() if len(self._lengths) else np.zeros(0, np.int64)
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        if self._all_unknown and self.fill != UNKNOWN:  # their rows hold no entries yet: every class unknown
            rows = np.asarray(self._all_unknown)
            at = np.repeat(indptr[rows], self.num_classes)
            indices = np.insert(indices, at, np.tile(np.arange(self.num_classes, dtype=np.int32), len(rows)))
            values = np.insert(values, at, np.int8(UNKNOWN))
            lengths[rows] = self.num_classes
            np.cumsum(lengths, out=indptr[1:])
        return SparseTargets(self.num_classes, indptr, indices.astype(np.int32), values.astype(np.int8), self.fill)
