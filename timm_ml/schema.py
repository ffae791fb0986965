""" The label schema of a model: which output columns form exclusive groups (one softmax each, optionally under a parent
label: a tree) and which form the multi-label block (one sigmoid each).

Every head, loss, metric, export and reader agrees on this one description:
- a flat multi-label set has no groups (every column a sigmoid);
- an attribute set has root groups covering every column (`neck=crew`, `neck=v`, ... one softmax per attribute);
- a hierarchical set has groups with parents (`subCategory` values under `masterCategory=Apparel`) and may keep a
  multi-label block of free tags beside them.

Targets follow the one encoding (1 / 0 / -1) with the tree rules of `complete_hierarchy`: an unknown parent makes its
subtree unknown, a known child implies its parent, and a group under a known-negative parent is all 0 (none of its
values applies). Decoding is top-down (`decode`): a child group is predicted only under its predicted parent. The
alternative, picking the leaf path with the largest product of conditional probabilities, was not chosen: it needs
a search over every path and its leaf can contradict the most likely top level.

Only numpy is imported, so the torch-free deployment reader decodes with the same code.
"""
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from timm_ml.utils.outside import RESERVED_RECORD_FIELDS, reserved_group_names

VALUE_SEP = '='


def _look(name: str) -> str:
    """How a name looks: NFKC form, format characters (zero-width spaces, direction marks) removed."""
    return ''.join(ch for ch in unicodedata.normalize('NFKC', name) if unicodedata.category(ch) != 'Cf')


class SchemaError(ValueError):
    """A label schema that cannot describe a model's outputs (overlapping groups, unknown parents, cycles)."""


@dataclass
class LabelGroup:
    """ One exclusive group: a contiguous block of columns scored by one softmax.

    Args:
        name: The attribute (e.g. 'neck', 'subCategory').
        values: Its values, in column order.
        start: First column.
        parent: Class name of the parent label, or None for a root group.
    """
    name: str
    values: List[str]
    start: int = 0
    parent: Optional[str] = None

    @property
    def end(self) -> int:
        return self.start + len(self.values)

    @property
    def key(self) -> str:
        """Unique name of the group (groups of one attribute under several parents share `name`)."""
        return self.name if self.parent is None else f'{self.name}[{self.parent}]'


@dataclass
class LabelSchema:
    """ Output columns of a model.

    Args:
        classes: Column names, in order.
        groups: Exclusive groups, parents before children; every other column belongs to the multi-label block.
        tag_parents: Parent label of multi-label classes that sit under one ({class: parent class}, OTX h-label).
    """
    classes: List[str]
    groups: List[LabelGroup] = field(default_factory=list)
    tag_parents: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.classes = list(self.classes)
        bad = [c for c in self.classes if not isinstance(c, str) or not c.strip()]
        if bad:
            raise SchemaError(f'class names must be non-empty strings, got {bad[:3]}')
        index = {c: i for i, c in enumerate(self.classes)}
        if len(index) != len(self.classes):
            dup = sorted({c for c in self.classes if self.classes.count(c) > 1})
            raise SchemaError(f'duplicate class names {dup[:5]}')
        control = [c for c in self.classes if any(unicodedata.category(ch) == 'Cc' for ch in c)]
        if control:  # NUL, ESC, BEL, newlines: they reach terminals, CSV headers and model cards
            raise SchemaError(f'class names hold control characters: {control[:3]}; rename them in the label file')
        seen = {}
        for c in self.classes:
            key = _look(c)
            if key in seen:
                raise SchemaError(f'class names {seen[key]!r} and {c!r} differ only in Unicode form or invisible '
                                  'characters: they would look like one class in every output; make them one name')
            seen[key] = c
        owner = np.full(len(self.classes), -1, dtype=np.int64)
        for g_idx, g in enumerate(self.groups):
            if len(g.values) < 1 or g.start < 0 or g.end > len(self.classes):
                raise SchemaError(f'group {g.key!r} spans columns {g.start}..{g.end} of {len(self.classes)}')
            if (owner[g.start:g.end] >= 0).any():
                raise SchemaError(f'group {g.key!r} overlaps group {self.groups[owner[g.start:g.end].max()].key!r}')
            owner[g.start:g.end] = g_idx
            if g.parent is not None:
                p = index.get(g.parent)
                if p is None:
                    raise SchemaError(f'group {g.key!r}: parent {g.parent!r} is not a class')
                if owner[p] < 0 or owner[p] >= g_idx:
                    raise SchemaError(f'group {g.key!r}: parent {g.parent!r} must be a value of an earlier exclusive '
                                      'group (parents before children, no cycles)')
        if len({g.key for g in self.groups}) != len(self.groups):
            raise SchemaError(f'duplicate groups {[g.key for g in self.groups]}')
        taken = reserved_group_names(sorted({g.name for g in self.groups}))
        if taken:
            raise SchemaError(f'a label group is named {taken[0]!r}, a field every prediction record has '
                              f'({", ".join(RESERVED_RECORD_FIELDS)}, top<k>): rename the group (e.g. the column of '
                              'the label file)')
        self.tag_parents = dict(self.tag_parents or {})
        for child, parent in self.tag_parents.items():
            if child not in index or owner[index[child]] >= 0:
                raise SchemaError(f'tag parent given for {child!r}, which is not a multi-label class')
            if parent not in index or owner[index[parent]] < 0:
                raise SchemaError(f'tag {child!r}: parent {parent!r} must be a value of an exclusive group')
        self._owner = owner
        self._index = index

    # structure
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def multilabel(self) -> np.ndarray:
        """Columns of the multi-label block (sigmoid each)."""
        return np.flatnonzero(self._owner < 0)

    @property
    def has_groups(self) -> bool:
        return bool(self.groups)

    @property
    def has_tree(self) -> bool:
        return any(g.parent is not None for g in self.groups) or bool(self.tag_parents)

    @property
    def kind(self) -> str:
        """'multilabel' (no groups), 'attributes' (root groups only, covering every column) or 'hierarchical'."""
        if not self.groups:
            return 'multilabel'
        if not self.has_tree and not len(self.multilabel):
            return 'attributes'
        return 'hierarchical'

    def column(self, name: str) -> int:
        return self._index[name]

    def group_of_column(self, column: int) -> Optional[LabelGroup]:
        g = self._owner[column]
        return None if g < 0 else self.groups[g]

    def parent_column(self, group: LabelGroup) -> Optional[int]:
        return None if group.parent is None else self._index[group.parent]

    def depth(self, group: LabelGroup) -> int:
        d = 0
        while group.parent is not None:
            group = self.group_of_column(self._index[group.parent])
            d += 1
        return d

    def root_of(self, group: LabelGroup) -> LabelGroup:
        while group.parent is not None:
            group = self.group_of_column(self._index[group.parent])
        return group

    def levels(self) -> Dict[str, List[int]]:
        """Tree levels: {level name: columns at that depth of one tree}, for trees of more than one level. A level is
        named after its groups when they share a name (e.g. 'subCategory'), else '<root>@<depth>'; a name two trees'
        levels share becomes '<root>/<name>' for both."""
        trees: Dict[str, Dict[int, List[LabelGroup]]] = {}
        for g in self.groups:
            trees.setdefault(self.root_of(g).key, {}).setdefault(self.depth(g), []).append(g)
        found = []
        for root, by_depth in trees.items():
            if len(by_depth) < 2:
                continue
            for depth, groups in sorted(by_depth.items()):
                names = {g.name for g in groups}
                name = names.pop() if len(names) == 1 else f'{root}@{depth}'
                found.append((root, name, [c for g in groups for c in range(g.start, g.end)]))
        taken = [name for _, name, _ in found]
        return {(f'{root}/{name}' if taken.count(name) > 1 else name): columns for root, name, columns in found}

    # serialisation (checkpoints, export metadata)
    def to_dict(self) -> dict:
        return dict(classes=list(self.classes), groups=[
            dict(name=g.name, values=list(g.values), start=g.start, parent=g.parent) for g in self.groups],
            tag_parents=dict(self.tag_parents))

    @classmethod
    def from_dict(cls, d: dict) -> 'LabelSchema':
        return cls(d['classes'], [LabelGroup(g['name'], list(g['values']), int(g['start']), g.get('parent'))
                                  for g in d.get('groups') or []], d.get('tag_parents') or {})

    @classmethod
    def from_config(cls, config: dict) -> 'LabelSchema':
        """The schema of a checkpoint's ml_config (older checkpoints: group_sizes + attribute_names)."""
        if config.get('schema'):
            return cls.from_dict(config['schema'])
        classes = config['classes']
        sizes = config.get('group_sizes')
        if not sizes:
            return cls(classes)
        names = config.get('attribute_names') or [f'attr{i}' for i in range(len(sizes))]
        groups, start = [], 0
        for name, size in zip(names, sizes):
            groups.append(LabelGroup(name, [c.split(VALUE_SEP, 1)[-1] for c in classes[start:start + size]], start))
            start += size
        return cls(classes, groups)

    def flat(self) -> 'LabelSchema':
        """The same columns as one multi-label block (what heads without group support score)."""
        return LabelSchema(self.classes)

    def __eq__(self, other):
        return isinstance(other, LabelSchema) and self.to_dict() == other.to_dict()

    def describe(self) -> str:
        parts = []
        roots = [g for g in self.groups if g.parent is None]
        if roots:
            parts.append(f'{len(self.groups)} exclusive groups ({len(roots)} roots'
                         + (f', tree depth {max(self.depth(g) for g in self.groups) + 1}' if self.has_tree else '')
                         + ')')
        if len(self.multilabel):
            parts.append(f'{len(self.multilabel)} multi-label classes')
        return ', '.join(parts) or 'no classes'


def attribute_class_names(name: str, values: Sequence[str]) -> List[str]:
    return [f'{name}{VALUE_SEP}{v}' for v in values]


def complete_hierarchy(dense: np.ndarray, schema: LabelSchema, rows: Optional[Sequence] = None) -> np.ndarray:
    """ Apply the tree rules to dense (N, C) int8 targets in place and return them.

    Bottom-up, a known child makes its parent positive (and the parent's siblings negative); a child under a known
    negative or another positive parent is a contradiction (ValueError naming the row). Top-down, a group under an
    unknown parent becomes unknown (-1), under a known-negative parent all 0.

    Args:
        dense: Targets, 1 / 0 / -1; exclusive groups one-hot or all -1.
        schema: The schema with its tree.
        rows: Labels of the rows for error messages (default: the row index).
    """
    if not schema.has_tree or not len(dense):
        return dense
    for g in reversed(schema.groups):
        p = schema.parent_column(g)
        if p is None:
            continue
        child_known = (dense[:, g.start:g.end] == 1).any(1)
        pg = schema.group_of_column(p)
        conflict = child_known & ((dense[:, p] == 0) | ((dense[:, pg.start:pg.end] == 1).sum(1) - (dense[:, p] == 1) > 0))
        if conflict.any():
            r = int(np.flatnonzero(conflict)[0])
            where = rows[r] if rows is not None else f'row {r}'
            value = g.values[int(np.argmax(dense[r, g.start:g.end] == 1))]
            raise ValueError(f'{where}: {g.name} {value!r} lies under {g.parent!r}, but {pg.name} is annotated '
                             f'otherwise')
        dense[child_known, pg.start:pg.end] = 0
        dense[child_known, p] = 1
    for child, parent in schema.tag_parents.items():
        c, p = schema.column(child), schema.column(parent)
        pg = schema.group_of_column(p)
        known = dense[:, c] == 1
        conflict = known & ((dense[:, p] == 0) | ((dense[:, pg.start:pg.end] == 1).sum(1) - (dense[:, p] == 1) > 0))
        if conflict.any():
            r = int(np.flatnonzero(conflict)[0])
            where = rows[r] if rows is not None else f'row {r}'
            raise ValueError(f'{where}: tag {child!r} lies under {parent!r}, but {pg.name} is annotated otherwise')
        dense[known, pg.start:pg.end] = 0
        dense[known, p] = 1
    for g in reversed(schema.groups):  # tags may have made parents known: propagate up once more
        p = schema.parent_column(g)
        if p is not None:
            pg = schema.group_of_column(p)
            up = (dense[:, g.start:g.end] == 1).any(1) & (dense[:, p] != 1)
            dense[up, pg.start:pg.end] = 0
            dense[up, p] = 1
    for g in schema.groups:
        p = schema.parent_column(g)
        if p is None:
            continue
        dense[dense[:, p] == -1, g.start:g.end] = -1
        dense[dense[:, p] == 0, g.start:g.end] = 0
    for child, parent in schema.tag_parents.items():
        c, p = schema.column(child), schema.column(parent)
        dense[dense[:, p] == -1, c] = -1
        dense[dense[:, p] == 0, c] = 0
    return dense


def decode(scores: np.ndarray, schema: LabelSchema, thresholds=None, threshold: float = 0.5) -> np.ndarray:
    """ (N, C) bool predictions from scores (softmax per group, sigmoid elsewhere): top-down argmax per exclusive
    group, a child group only under its predicted parent; the multi-label block at its per-class thresholds (or
    `threshold`). Threshold values in group columns are not used.

    Args:
        scores: (N, C) scores as the model's scoring function makes them.
        schema: The label schema.
        thresholds: Optional (C,) per-class thresholds.
    """
    scores = np.asarray(scores)
    pred = np.zeros(scores.shape, dtype=bool)
    rows = np.arange(scores.shape[0])
    for g in schema.groups:
        choice = g.start + scores[:, g.start:g.end].argmax(1)
        p = schema.parent_column(g)
        active = rows if p is None else rows[pred[:, p]]
        pred[active, choice[active]] = True
    ml = schema.multilabel
    if len(ml):
        cut = np.full(scores.shape[1], threshold, np.float32) if thresholds is None else \
            np.asarray(thresholds, np.float32)
        pred[:, ml] = scores[:, ml] >= cut[ml]
    for child, parent in schema.tag_parents.items():
        pred[:, schema.column(child)] &= pred[:, schema.column(parent)]
    return pred


def predicted_labels(pred_row: np.ndarray, schema: LabelSchema) -> Dict[str, object]:
    """One image's decoded prediction as {group name: value} per predicted group and 'tags': [multi-label classes]."""
    out: Dict[str, object] = {}
    for g in schema.groups:
        hit = np.flatnonzero(pred_row[g.start:g.end])
        if len(hit):
            out[g.name] = g.values[int(hit[0])]
    ml = schema.multilabel
    if len(ml) or not schema.groups:
        out['tags'] = [schema.classes[c] for c in ml if pred_row[c]]
    return out
