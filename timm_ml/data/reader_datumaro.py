""" Datumaro (the format OTX trains on): `<root>/annotations/<split>.json`, images under `<root>/images/<split>/`.

`categories.label.labels` name the classes and `label_groups` group them: when every label sits in an exclusive group
of two or more, each group is one attribute (a softmax head); otherwise all labels are independent multi-label classes
(exclusive groups then train as independent sigmoids, which the log says). Items carry `image.path` (or `media.path`)
and `label` annotations; an item's `ignored_labels` attribute (OTX) makes those labels unknown (-1).
"""
import logging
import os

from .readers import (AttributeGroup, LabelFileError, LabelSet, _RowPolicy, attribute_class_names, load_json,
                      normalize_path)
from .targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargetsBuilder

_logger = logging.getLogger(__name__)


def datumaro_annotation_file(root: str, split: str) -> str:
    return os.path.join(root, 'annotations', f'{split}.json')


def is_datumaro(data) -> bool:
    return isinstance(data, dict) and 'items' in data and isinstance(data.get('categories'), dict)


def _exclusive(group) -> bool:
    kind = group.get('group_type', 'exclusive')
    return kind in (0, 'exclusive', 'EXCLUSIVE')


def _image_root(root, split, items):
    for item in items:
        rel = (item.get('image') or item.get('media') or {}).get('path')
        if rel:
            for base in (os.path.join(root, 'images', split), os.path.join(root, 'images'), root):
                if os.path.exists(os.path.join(base, rel)):
                    return base
            break
    return os.path.join(root, 'images', split)


def read_datumaro(path: str, split: str = '', classes=None, attributes=None, on_bad: str = 'error') -> LabelSet:
    """ Args:
        path: annotations/<split>.json. split: Its split name (the image folder).
        classes / attributes: Fixed class order / attribute groups (from the training split).
        on_bad: 'error' or 'skip' for malformed items.
    """
    data = load_json(path)
    if not is_datumaro(data) or 'label' not in data['categories']:
        raise LabelFileError(f'{path}: not a Datumaro annotation file (no "items" / "categories.label")')
    label_cat = data['categories']['label']
    names = [label['name'] for label in label_cat.get('labels', [])]
    groups = label_cat.get('label_groups') or []
    exclusive = [g for g in groups if _exclusive(g) and len(g.get('labels', [])) >= 2]
    grouped = {n for g in exclusive for n in g['labels']}
    as_attributes = attributes is not None or (
        exclusive and all(_exclusive(g) for g in groups) and grouped == set(names) and
        sum(len(g['labels']) for g in exclusive) == len(names))
    if as_attributes and attributes is None:
        attributes, start = [], 0
        for g in exclusive:
            attributes.append(AttributeGroup(g['name'], list(g['labels']), start))
            start += len(g['labels'])
    elif not as_attributes and exclusive:
        _logger.info(f'{path}: exclusive label groups {[g["name"] for g in exclusive]} mixed with multi-select ones: '
                     'every label is trained as an independent multi-label class')
    if as_attributes:
        classes = attribute_class_names(attributes)
        position = {(g.name, v): g.start + j for g in attributes for j, v in enumerate(g.values)}
        group_of = {v: g for g in attributes for v in g.values}
    else:
        classes = list(classes) if classes is not None else names
    index = {c: i for i, c in enumerate(classes)}
    policy = _RowPolicy(path, on_bad)
    builder = SparseTargetsBuilder(len(classes), fill=NEGATIVE)
    paths, seen = [], {}
    for row, item in enumerate(data['items']):
        rel = (item.get('image') or item.get('media') or {}).get('path')
        if not rel:
            policy.bad(row, f'item {item.get("id")!r} has no image path')
            continue
        rel = normalize_path(rel)
        if rel in seen:
            policy.bad(row, f'duplicate image path {rel!r} (first at item {seen[rel]})')
            continue
        label_names, bad = [], None
        for ann in item.get('annotations', []):
            if ann.get('type', 'label') != 'label':
                continue
            label_id = ann.get('label_id')
            if not isinstance(label_id, int) or not 0 <= label_id < len(names):
                bad = f'label_id {label_id!r} out of range (0..{len(names) - 1})'
                break
            label_names.append(names[label_id])
        ignored = [names[i] for i in (item.get('attr') or {}).get('ignored_labels', []) if 0 <= i < len(names)]
        if bad:
            policy.bad(row, bad)
            continue
        entries = {}
        if as_attributes:
            for g in attributes:
                annotated = [n for n in label_names if group_of.get(n) is g]
                if len(annotated) > 1:
                    bad = f'{len(annotated)} labels {annotated} of the exclusive group {g.name!r}'
                if not annotated or any(group_of.get(n) is g for n in ignored):
                    entries.update({g.start + j: UNKNOWN for j in range(len(g.values))})
                else:
                    entries[position[(g.name, annotated[0])]] = POSITIVE
        else:
            unknown_labels = [n for n in label_names + ignored if n not in index]
            if unknown_labels:
                bad = f'labels {unknown_labels} are not in the class list'
            entries.update({index[n]: UNKNOWN for n in ignored if n in index})
            entries.update({index[n]: POSITIVE for n in label_names if n in index and n not in ignored})
        if bad:
            policy.bad(row, bad)
            continue
        seen[rel] = row
        builder.add(list(entries), list(entries.values()))
        paths.append(rel)
    policy.finish()
    if not paths:
        raise LabelFileError(f'{path}: no images')
    return LabelSet(classes, paths, builder.build(), _image_root(os.path.dirname(os.path.dirname(path)), split,
                                                                  data['items']),
                    attributes if as_attributes else [], policy.skipped, path, 'datumaro')
