""" Datumaro (the format OTX trains on): `<root>/annotations/<split>.json`, images under `<root>/images/<split>/`.

`categories.label.labels` name the classes (each may name a `parent`: OTX's hierarchical h-label layout) and
`label_groups` group them. An exclusive group of two or more labels is one softmax group of the schema, under the
parent its labels share; every other label (singleton groups, non-exclusive groups, ungrouped labels) is an
independent multi-label class, as in OTX. Items carry `image.path` (or `media.path`) and `label` annotations; a group
without an annotated label is unknown, a multi-label class without one is negative; an item's `ignored_labels`
attribute (OTX) makes those labels unknown. The tree rules of timm_ml.schema apply (a known child makes its parent
known; an unknown parent makes its subtree unknown).
"""
import logging
import os
from typing import Dict, List

import numpy as np

from timm_ml.schema import LabelGroup, LabelSchema, complete_hierarchy

from ..label_set import LabelSet, class_difference
from ..targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader, RowPolicy, has_extension, load_json, normalize_path

_logger = logging.getLogger(__name__)


def datumaro_annotation_file(root: str, split: str) -> str:
    return os.path.join(root, 'annotations', f'{split}.json')


def _exclusive(group) -> bool:
    return group.get('group_type', 'exclusive') in (0, 'exclusive', 'EXCLUSIVE')


def _image_root(root, split, items):
    for item in items:
        rel = (item.get('image') or item.get('media') or {}).get('path')
        if rel:
            for base in (os.path.join(root, 'images', split), os.path.join(root, 'images'), root):
                if os.path.exists(os.path.join(base, rel)):
                    return base
            break
    return os.path.join(root, 'images', split)


def datumaro_schema(path: str, label_cat: dict) -> LabelSchema:
    """The schema of a Datumaro label category: exclusive groups (parents first), then the multi-label classes."""
    labels = label_cat.get('labels', [])
    names = [label['name'] for label in labels]
    if len(set(names)) != len(names):
        raise LabelFileError(f'{path}: duplicate label names {sorted({n for n in names if names.count(n) > 1})[:5]}')
    parent_of = {label['name']: (label.get('parent') or None) for label in labels}
    for name, parent in parent_of.items():
        if parent is not None and parent not in parent_of:
            raise LabelFileError(f'{path}: label {name!r} names parent {parent!r}, which is not a label')
    exclusive = [g for g in label_cat.get('label_groups') or [] if _exclusive(g) and len(g.get('labels', [])) >= 2]
    grouped: Dict[str, str] = {}
    for g in exclusive:
        for n in g['labels']:
            if n not in parent_of:
                raise LabelFileError(f'{path}: label group {g["name"]!r} holds {n!r}, which is not a label')
            if n in grouped:
                raise LabelFileError(f'{path}: label {n!r} is in two exclusive groups ({grouped[n]!r}, {g["name"]!r})')
            grouped[n] = g['name']
        parents = {parent_of[n] for n in g['labels']}
        if len(parents) > 1:
            raise LabelFileError(f'{path}: the labels of exclusive group {g["name"]!r} have different parents '
                                 f'{sorted(p or "(root)" for p in parents)}')
    # parents before children: order groups by the depth of their parent label
    def depth(name, seen=()):
        parent = parent_of.get(name)
        if parent is None:
            return 0
        if parent in seen:
            raise LabelFileError(f'{path}: the label parents form a cycle through {name!r}')
        return 1 + depth(parent, seen + (name,))
    exclusive = sorted(exclusive, key=lambda g: depth(g['labels'][0]))
    classes: List[str] = []
    groups = []
    for g in exclusive:
        groups.append(LabelGroup(g['name'], list(g['labels']), len(classes), parent_of[g['labels'][0]]))
        classes += g['labels']
    tags = [n for n in names if n not in grouped]
    classes += tags
    for g in groups:
        if g.parent is not None and g.parent not in grouped:
            raise LabelFileError(f'{path}: group {g.name!r} sits under {g.parent!r}, which is not in an exclusive group')
    tag_parents = {n: parent_of[n] for n in tags if parent_of[n] is not None}
    bad = [n for n, p in tag_parents.items() if p not in grouped]
    if bad:
        raise LabelFileError(f'{path}: labels {bad[:5]} sit under parents that are not in an exclusive group')
    return LabelSchema(classes, groups, tag_parents)


class DatumaroReader(LabelReader):
    name = 'datumaro'
    meanings = "a label = positive, `ignored_labels` = unknown, other labels of the image's groups = negative"
    layout = ('`annotations/<split>.json`, images under `images/<split>/`; exclusive `label_groups` are softmax groups '
              '(under their labels\' `parent`: OTX h-label), other labels multi-label; `ignored_labels` = unknown')
    split_aliases = {'val': ('validation',), 'validation': ('val',)}

    def locate(self, root, split):
        for name in self.split_names(split):
            path = datumaro_annotation_file(root, name)
            if os.path.isfile(path):
                return path
        return None

    def recognise(self, source, options=None):
        if not has_extension(source, '.json'):
            return None
        data = load_json(source)
        if isinstance(data, dict) and isinstance(data.get('items'), list) and \
                isinstance((data.get('categories') or {}).get('label'), dict):
            return f'{os.path.basename(source)} holds Datumaro "items" and "categories.label"'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        data = load_json(source)
        if not self.recognise(source):
            raise LabelFileError(f'{source}: not a Datumaro annotation file (no "items" / "categories.label")')
        label_cat = data['categories']['label']
        names = [label['name'] for label in label_cat.get('labels', [])]
        schema = datumaro_schema(source, label_cat)
        if options.schema is not None:
            if options.schema.classes != schema.classes or options.schema != schema:
                difference = class_difference(options.schema.classes, schema.classes, 'training', 'this file')
                raise LabelFileError(f'{source}: its labels differ from the training ones: '
                                     f'{difference or "other groups"}')
        elif options.classes is not None and options.classes != schema.classes:
            raise LabelFileError(
                f'{source}: {class_difference(options.classes, schema.classes, "training", "this file")}')
        index = {c: i for i, c in enumerate(schema.classes)}
        group_of = {c: schema.group_of_column(i) for c, i in index.items()}
        policy = RowPolicy(source, options.on_bad)
        rows, paths, seen = [], [], {}
        for row, item in enumerate(data['items']):
            rel = (item.get('image') or item.get('media') or {}).get('path')
            if not rel:
                policy.bad(row, f'item {item.get("id")!r} has no image path')
                continue
            rel = normalize_path(rel)
            if rel in seen:
                policy.bad(row, f'duplicate image path {rel!r} (first at item {seen[rel]})')
                continue
            t = np.full(schema.num_classes, NEGATIVE, dtype=np.int8)
            for g in schema.groups:
                t[g.start:g.end] = UNKNOWN
            bad = None
            annotated = []
            for ann in item.get('annotations', []):
                if ann.get('type', 'label') != 'label':
                    continue
                label_id = ann.get('label_id')
                if not isinstance(label_id, int) or isinstance(label_id, bool) or not 0 <= label_id < len(names):
                    bad = f'label_id {label_id!r} out of range (0..{len(names) - 1})'
                    break
                annotated.append(names[label_id])
            for g in schema.groups:
                inside = [n for n in annotated if group_of[n] is g]
                if len(inside) > 1:
                    bad = f'{len(inside)} labels {inside} of the exclusive group {g.name!r}'
                elif inside:
                    t[g.start:g.end] = NEGATIVE
                    t[index[inside[0]]] = POSITIVE
            for n in annotated:
                if group_of[n] is None:
                    t[index[n]] = POSITIVE
            ignored = (item.get('attr') or {}).get('ignored_labels') or []
            if not isinstance(ignored, list):
                bad, ignored = bad or f'ignored_labels {ignored!r} is not a list of label indices', []
            for i in ignored:
                if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(names):
                    bad = bad or f'ignored_labels entry {i!r} is not a label index (0..{len(names) - 1})'
                else:
                    g = group_of[names[i]]
                    if g is None:
                        t[index[names[i]]] = UNKNOWN
                    else:
                        t[g.start:g.end] = UNKNOWN
            if bad:
                policy.bad(row, bad)
                continue
            seen[rel] = row
            rows.append(t)
            paths.append(rel)
        policy.finish()
        if not paths:
            raise LabelFileError(f'{source}: no images')
        dense = np.stack(rows)
        try:
            complete_hierarchy(dense, schema, rows=[f'{source}: item {seen[p]}' for p in paths])
        except ValueError as e:
            raise LabelFileError(str(e)) from e
        if schema.groups and not schema.has_tree and not len(schema.multilabel):
            _logger.debug(f'{source}: {len(schema.groups)} exclusive groups: attribute heads')
        root = os.path.dirname(os.path.dirname(source))
        split = os.path.splitext(os.path.basename(source))[0]  # the name on disk: images/<split>/
        return LabelSet(schema, paths, SparseTargets.from_dense(dense), _image_root(root, split, data['items']),
                        policy.skipped, source, self.name, split)
