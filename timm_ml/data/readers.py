""" What every label reader returns (`LabelSet`) and the row handling the readers share.

The readers, one file per format (`reader_<format>.py`), are chosen by `reader_factory.read_labels`.
Targets use one encoding: 1 positive, 0 negative, -1 unknown, stored sparsely (see targets.py).
"""
import json
import logging
import math
import os
import posixpath
from array import array
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .targets import NEGATIVE, UNKNOWN, SparseTargets

_logger = logging.getLogger(__name__)

PATH_COLUMNS = ('path', 'image', 'image_path', 'filename', 'file', 'img', 'image_name', 'image_id')
LABEL_LIST_COLUMNS = ('labels', 'tags', 'label_list', 'label_names', 'classes', 'label', 'categories')
UNKNOWN_VALUES = ('#N/A', '', 'nan', 'NaN')  # only these (plus --unknown-values) mean "not annotated"
CLASS_LIST_FILES = ('label.txt', 'labels.txt', 'classes.txt')
ATTRIBUTE_SEP = '='
LABEL_EXTENSIONS = ('.json', '.csv', '.tsv')


class LabelFileError(ValueError):
    """A label file row that cannot be read; the message names the file and row."""


@dataclass
class AttributeGroup:
    """One attribute (e.g. neck) whose values are a contiguous block of the class list (one softmax head)."""
    name: str
    values: List[str]
    start: int = 0

    @property
    def end(self):
        return self.start + len(self.values)


@dataclass
class LabelSet:
    """ What a reader returns.

    Args:
        classes: Ordered class names; attribute classes are named '<attribute>=<value>'.
        paths: Image paths relative to `root`.
        targets: Sparse (N, C) targets.
        root: Folder the paths are relative to.
        attributes: Attribute groups for attribute files, else empty.
        skipped: Rows skipped under the 'skip' policy, with reasons.
        source: The label file read.
        format: The reader that read it (otx, csv, attributes, tsv, coco, voc, openimages, datumaro).
    """
    classes: List[str]
    paths: List[str]
    targets: SparseTargets
    root: str = ''
    attributes: List[AttributeGroup] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    source: str = ''
    format: str = ''

    def __len__(self):
        return len(self.paths)

    @property
    def num_classes(self):
        return len(self.classes)

    def subset(self, rows: Sequence[int]) -> 'LabelSet':
        return LabelSet(
            self.classes, [self.paths[i] for i in rows], self.targets.subset(rows), self.root,
            self.attributes, list(self.skipped), self.source, self.format)


def attribute_class_names(groups: Sequence[AttributeGroup]) -> List[str]:
    return [f'{g.name}{ATTRIBUTE_SEP}{v}' for g in groups for v in g.values]


def groups_from_class_names(classes: Sequence[str]) -> List[AttributeGroup]:
    """Rebuild attribute groups from '<attribute>=<value>' class names (contiguous per attribute)."""
    groups: List[AttributeGroup] = []
    for i, name in enumerate(classes):
        attr, _, value = name.partition(ATTRIBUTE_SEP)
        if groups and groups[-1].name == attr:
            groups[-1].values.append(value)
        else:
            if any(g.name == attr for g in groups):
                raise ValueError(f'Attribute {attr!r} classes are not contiguous in the class list.')
            groups.append(AttributeGroup(attr, [value], start=i))
    return groups


def read_class_list(path: str) -> List[str]:
    """Class names, one per line (timm's --class-map text format; a trailing index column is allowed)."""
    classes = []
    with open_text(path) as f:
        for line in f:
            line = line.rstrip('\n').rstrip('\r')
            if not line.strip():
                continue
            name = line.split('\t')[0] if '\t' in line else line
            classes.append(name.strip())
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise LabelFileError(f'{path}: duplicate class names {dup[:5]}')
    return classes


class _RowPolicy:
    """Raises on a bad row, or counts and logs it when the user asked for 'skip'."""

    def __init__(self, source: str, on_bad: str):
        if on_bad not in ('error', 'skip'):
            raise ValueError(f"on_bad must be 'error' or 'skip', got {on_bad!r}")
        self.source = source
        self.on_bad = on_bad
        self.skipped: List[str] = []

    def bad(self, row: int, what: str):
        msg = f'{self.source}: row {row}: {what}'
        if self.on_bad == 'error':
            raise LabelFileError(msg)
        self.skipped.append(msg)

    def finish(self):
        if self.skipped:
            _logger.warning(f'{self.source}: skipped {len(self.skipped)} bad rows, first: {self.skipped[0]}')


class _LabelListParser:
    """Shared row handling for the label-list formats (JSON, label-list CSV, TSV); rows go straight into flat
    int32 arrays so millions of images stay cheap."""

    def __init__(self, source, classes: Optional[Sequence[str]], on_bad: str, sort_classes: bool = True):
        self.policy = _RowPolicy(source, on_bad)
        self.sort_classes = sort_classes
        self.fixed_classes = classes is not None
        self.classes = list(classes) if classes is not None else []
        self.index: Dict[str, int] = {c: i for i, c in enumerate(self.classes)}
        self.paths: List[str] = []
        self.rows: List[int] = []  # label-file row of each kept image, for duplicate reports
        self.lengths = array('q')
        self.indices = array('i')
        self.unannotated: List[int] = []  # images whose label cell is '#N/A': every class unknown
        self.seen_paths = set()

    def add(self, row: int, path: str, labels: Sequence[str], unannotated: bool = False):
        if not isinstance(path, str) or not path.strip():
            return self.policy.bad(row, 'empty image path')
        path = normalize_path(path)
        if path in self.seen_paths:
            first = self.rows[self.paths.index(path)]
            return self.policy.bad(row, f'duplicate image path {path!r} (first at row {first})')
        indices = []
        for label in labels:
            if not isinstance(label, str):
                return self.policy.bad(row, f'label {label!r} is not a string')
            label = label.strip()
            if not label:
                continue
            idx = self.index.get(label)
            if idx is None:
                if self.fixed_classes:
                    return self.policy.bad(row, f'label {label!r} is not in the class list')
                idx = self.index[label] = len(self.classes)
                self.classes.append(label)
            indices.append(idx)
        if len(set(indices)) != len(indices):
            indices = list(dict.fromkeys(indices))  # duplicate labels allowed, counted once
        self.seen_paths.add(path)
        if unannotated:
            self.unannotated.append(len(self.paths))
        self.paths.append(path)
        self.rows.append(row)
        self.lengths.append(len(indices))
        self.indices.extend(indices)

    def build(self, root: str, source: str) -> LabelSet:
        self.policy.finish()
        classes = self.classes
        indices = np.frombuffer(self.indices, dtype=np.int32) if len(self.indices) else np.zeros(0, np.int32)
        if not self.fixed_classes and self.sort_classes:
            classes = sorted(self.classes)
            order = {c: i for i, c in enumerate(classes)}
            remap = np.array([order[c] for c in self.classes], dtype=np.int32)
            indices = remap[indices] if len(indices) else indices
        indptr = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(np.frombuffer(self.lengths, dtype=np.int64), out=indptr[1:])
        values = np.ones(len(indices), dtype=np.int8)
        if self.unannotated:  # their rows hold no entries yet: insert every class as unknown
            rows = np.asarray(self.unannotated)
            num_classes = len(classes)
            at = np.repeat(indptr[rows], num_classes)
            indices = np.insert(indices, at, np.tile(np.arange(num_classes, dtype=np.int32), len(rows)))
            values = np.insert(values, at, UNKNOWN)
            lengths = np.diff(indptr)
            lengths[rows] = num_classes
            np.cumsum(lengths, out=indptr[1:])
        targets = SparseTargets(len(classes), indptr, indices.astype(np.int32), values, NEGATIVE)
        return LabelSet(classes, self.paths, targets, root, [], self.policy.skipped, source)


def is_unknown(value, extra: Sequence[str] = ()) -> bool:
    """A cell that means "not annotated": #N/A, empty, NaN, or one of the user's --unknown-values."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    value = str(value).strip()
    return value in UNKNOWN_VALUES or value in extra


def normalize_path(path: str) -> str:
    """One spelling per image: './x.png', 'x.png' and 'a/../x.png' are the same file (separators as '/')."""
    return posixpath.normpath(path.strip().replace('\\', '/'))


def open_text(path: str, **kwargs):
    """Open a text label file: UTF-8 with or without a byte-order mark, any newline convention."""
    return open(path, encoding='utf-8-sig', **kwargs)


def load_json(path: str):
    """A JSON label file; invalid JSON is a LabelFileError naming the file and position."""
    try:
        with open_text(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise LabelFileError(f'{path}: not valid JSON ({e})') from e


def find_class_list(folder: str) -> Optional[str]:
    for name in CLASS_LIST_FILES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


