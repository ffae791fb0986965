""" Label file readers

One API for every label format: `read_label_file(path)` returns a `LabelSet` with the ordered class names, optional
attribute groups, relative image paths and sparse targets (1 positive, 0 negative, -1 unknown).

Formats, chosen by extension and content:
    .json  deep-object-reid / OTX: {"classes": [...], "images": [["rel/path.jpg", ["dog", "person"]], ...]}
    .csv   with a label-list column (labels/tags/...): path,labels with labels joined by `label_delimiter`
    .csv   without one: attribute CSV, path column + one column per attribute; '#N/A', empty or NaN = unknown
    .tsv   path<TAB>l1,l2 with the class list in label.txt (or labels.txt / classes.txt) beside it
"""
import csv
import json
import logging
import math
import os
from array import array
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargets, SparseTargetsBuilder

_logger = logging.getLogger(__name__)

PATH_COLUMNS = ('path', 'image', 'image_path', 'filename', 'file', 'img', 'image_name', 'image_id')
LABEL_LIST_COLUMNS = ('labels', 'tags', 'label_list', 'classes', 'label')
UNKNOWN_VALUES = ('#N/A', '', 'nan', 'NaN', 'N/A', 'null', 'None')
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
    """
    classes: List[str]
    paths: List[str]
    targets: SparseTargets
    root: str = ''
    attributes: List[AttributeGroup] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    source: str = ''

    def __len__(self):
        return len(self.paths)

    @property
    def num_classes(self):
        return len(self.classes)

    def subset(self, rows: Sequence[int]) -> 'LabelSet':
        return LabelSet(
            self.classes, [self.paths[i] for i in rows], self.targets.subset(rows), self.root,
            self.attributes, list(self.skipped), self.source)


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
    with open(path, encoding='utf-8') as f:
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

    def __init__(self, source, classes: Optional[Sequence[str]], on_bad: str):
        self.policy = _RowPolicy(source, on_bad)
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
        path = path.strip()
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
        if not self.fixed_classes:
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


def _read_otx_json(path, classes, on_bad) -> LabelSet:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise LabelFileError(f'{path}: not valid JSON ({e})') from e
    if not isinstance(data, dict) or 'images' not in data:
        raise LabelFileError(f'{path}: expected an object with "classes" and "images" keys')
    file_classes = data.get('classes')
    if classes is None:
        if not isinstance(file_classes, list) or not file_classes:
            raise LabelFileError(f'{path}: "classes" must be a non-empty list')
        if len(set(file_classes)) != len(file_classes):
            raise LabelFileError(f'{path}: duplicate names in "classes"')
        classes = file_classes
    parser = _LabelListParser(path, classes, on_bad)
    for row, item in enumerate(data['images']):
        if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[1], (list, tuple)):
            parser.policy.bad(row, f'expected ["path", [labels...]], got {str(item)[:80]}')
            continue
        parser.add(row, item[0], item[1])
    return parser.build(os.path.dirname(path), path)


def _find_class_list(folder: str) -> Optional[str]:
    for name in CLASS_LIST_FILES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _read_tsv(path, classes, on_bad, label_delimiter=None) -> LabelSet:
    if classes is None:
        class_file = _find_class_list(os.path.dirname(path))
        if class_file is None:
            raise LabelFileError(f'{path}: TSV labels need a class list ({" / ".join(CLASS_LIST_FILES)}) beside it')
        classes = read_class_list(class_file)
    delimiter = label_delimiter or ','
    parser = _LabelListParser(path, classes, on_bad)
    with open(path, encoding='utf-8') as f:
        for row, line in enumerate(f, start=1):
            line = line.rstrip('\n').rstrip('\r')
            if not line.strip():
                continue
            parts = line.split('\t')
            if len(parts) > 2:
                parser.policy.bad(row, f'expected "path<TAB>labels", got {len(parts)} tab-separated fields')
                continue
            labels = parts[1].split(delimiter) if len(parts) == 2 and parts[1] else []
            parser.add(row, parts[0], labels)
    return parser.build(os.path.dirname(path), path)


def _is_unknown(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip() in UNKNOWN_VALUES


def _pick_path_column(header, path_column):
    if path_column:
        if path_column not in header:
            raise LabelFileError(f'path column {path_column!r} not in header {header}')
        return path_column
    for name in header:
        if name.strip().lower() in PATH_COLUMNS:
            return name
    return header[0]


def _read_csv(path, classes, on_bad, label_delimiter=None, path_column=None, labels_column=None,
              attributes=None) -> LabelSet:
    with open(path, encoding='utf-8', newline='') as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise LabelFileError(f'{path}: empty file')
        if len(set(header)) != len(header):
            raise LabelFileError(f'{path}: row 1: duplicate column names in header {header}')
        path_col = header.index(_pick_path_column(header, path_column))
        if labels_column is None:
            labels_column = next((h for h in header if h.lower() in LABEL_LIST_COLUMNS and h != header[path_col]), None)
        if labels_column is not None and attributes is None:
            if labels_column not in header:
                raise LabelFileError(f'{path}: labels column {labels_column!r} not in header {header}')
            label_col = header.index(labels_column)
            parser = _LabelListParser(path, classes, on_bad)
            delimiter = label_delimiter or ' '
            for row, cells in enumerate(reader, start=2):
                if not cells:
                    continue
                if len(cells) != len(header):
                    parser.policy.bad(row, f'expected {len(header)} fields, got {len(cells)}')
                    continue
                cell = cells[label_col]
                unannotated = _is_unknown(cell) and cell.strip() != ''  # '#N/A': unknown; empty: no positives
                labels = [] if _is_unknown(cell) else cell.split(delimiter)
                parser.add(row, cells[path_col], labels, unannotated)
            return parser.build(os.path.dirname(path), path)
        return _read_attribute_rows(path, header, path_col, reader, on_bad, attributes)


def _read_attribute_rows(path, header, path_col, reader, on_bad, attributes) -> LabelSet:
    policy = _RowPolicy(path, on_bad)
    attr_cols = [i for i in range(len(header)) if i != path_col]
    if not attr_cols:
        raise LabelFileError(f'{path}: row 1: no attribute columns besides the path column {header[path_col]!r}')
    names = [header[i] for i in attr_cols]
    if attributes is not None:
        missing = [g.name for g in attributes if g.name not in names]
        if missing:
            raise LabelFileError(f'{path}: row 1: attribute columns {missing} missing from header {header}')
        attr_cols = [header.index(g.name) for g in attributes]
        value_index = [{v: j for j, v in enumerate(g.values)} for g in attributes]
        fixed = True
    else:
        value_index = [{} for _ in attr_cols]
        fixed = False
    paths, cells_per_row, seen = [], [], {}
    for row, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            policy.bad(row, f'expected {len(header)} fields, got {len(cells)}')
            continue
        p = cells[path_col].strip()
        if not p:
            policy.bad(row, 'empty image path')
            continue
        if p in seen:
            policy.bad(row, f'duplicate image path {p!r} (first at row {seen[p]})')
            continue
        values = []
        bad = None
        for a, col in enumerate(attr_cols):
            cell = cells[col]
            if _is_unknown(cell):
                values.append(-1)
                continue
            cell = cell.strip()
            j = value_index[a].get(cell)
            if j is None:
                if fixed:
                    bad = f'value {cell!r} of attribute {header[col]!r} is not one of {list(value_index[a])}'
                    break
                j = value_index[a][cell] = len(value_index[a])
            values.append(j)
        if bad:
            policy.bad(row, bad)
            continue
        seen[p] = row
        paths.append(p)
        cells_per_row.append(values)
    policy.finish()
    if attributes is None:
        empty = [header[col] for a, col in enumerate(attr_cols) if not value_index[a]]
        if empty:
            raise LabelFileError(f'{path}: attribute columns {empty} have no known value in any row (every cell is '
                                 'unknown): a softmax head needs at least one value; remove the column or annotate it')
        attributes, remaps, start = [], [], 0
        for a, col in enumerate(attr_cols):
            values = sorted(value_index[a])
            order = {v: j for j, v in enumerate(values)}
            remaps.append([order[v] for v in value_index[a]])
            attributes.append(AttributeGroup(header[col], values, start))
            start += len(values)
    else:
        remaps = [None] * len(attributes)
        attributes = [AttributeGroup(g.name, list(g.values), g.start) for g in attributes]
    classes = attribute_class_names(attributes)
    builder = SparseTargetsBuilder(len(classes), fill=NEGATIVE)
    for values in cells_per_row:
        idx, val = [], []
        for a, j in enumerate(values):
            g = attributes[a]
            if j < 0:
                idx.extend(range(g.start, g.end))
                val.extend([UNKNOWN] * len(g.values))
            else:
                idx.append(g.start + (remaps[a][j] if remaps[a] else j))
                val.append(POSITIVE)
        builder.add(idx, val)
    return LabelSet(classes, paths, builder.build(), os.path.dirname(path), attributes, policy.skipped, path)


def read_label_file(
        path: str,
        classes: Optional[Sequence[str]] = None,
        attributes: Optional[Sequence[AttributeGroup]] = None,
        label_delimiter: Optional[str] = None,
        path_column: Optional[str] = None,
        labels_column: Optional[str] = None,
        on_bad: str = 'error',
) -> LabelSet:
    """ Read any supported label file into a LabelSet.

    Args:
        path: The label file (.json, .csv or .tsv).
        classes: Fixed class order (a class map or the training split's classes); labels outside it are errors.
            Without it, label-list formats sort the classes they find (JSON takes its own "classes" list).
        attributes: Fixed attribute groups for attribute CSVs (from the training split).
        label_delimiter: Separator inside a label-list cell (CSV default ' ', TSV default ',').
        path_column: CSV column holding image paths (default: first of PATH_COLUMNS found, else the first column).
        labels_column: CSV column holding label lists; without one (and no column named like LABEL_LIST_COLUMNS)
            the CSV is read as an attribute CSV.
        on_bad: 'error' raises LabelFileError naming file and row; 'skip' drops the row, counted in `skipped`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Label file not found: {path}')
    try:
        return _read_label_file(path, classes, attributes, label_delimiter, path_column, labels_column, on_bad)
    except UnicodeDecodeError as e:
        raise LabelFileError(f'{path}: not UTF-8 text (byte {e.start}: {e.reason}); save the file as UTF-8') from e


def _read_label_file(path, classes, attributes, label_delimiter, path_column, labels_column, on_bad) -> LabelSet:
    ext = os.path.splitext(path)[1].lower()
    if classes is not None and attributes is None and any(ATTRIBUTE_SEP in c for c in classes) and ext == '.csv' \
            and labels_column is None:
        attributes = groups_from_class_names(classes)
    if ext == '.json':
        label_set = _read_otx_json(path, classes, on_bad)
    elif ext in ('.tsv', '.txt'):
        label_set = _read_tsv(path, classes, on_bad, label_delimiter)
    elif ext == '.csv':
        label_set = _read_csv(path, classes, on_bad, label_delimiter, path_column, labels_column, attributes)
    else:
        raise LabelFileError(f'{path}: unsupported label file extension {ext!r}, expected one of {LABEL_EXTENSIONS}')
    if not len(label_set):
        raise LabelFileError(f'{path}: no images' + (f' ({len(label_set.skipped)} rows skipped)' if label_set.skipped
                                                     else ''))
    return label_set


def resolve_label_file(root: str, split: str) -> str:
    """timm-style split resolution: `<root>/<split>.{json,csv,tsv}`, or `split` itself when it is a file."""
    if os.path.isfile(split):
        return split
    if os.path.isfile(root) and os.path.splitext(root)[1].lower() in LABEL_EXTENSIONS and not split:
        return root
    for ext in LABEL_EXTENSIONS:
        candidate = os.path.join(root, split + ext)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f'No label file for split {split!r} in {root!r}: looked for {split}.json, {split}.csv, {split}.tsv')
