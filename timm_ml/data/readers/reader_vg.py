""" Visual Genome (1.2 / 1.4) as published: `objects.json` (per image, its objects with `names`), `image_data.json`
(image id, url) and the images in `VG_100K/` and `VG_100K_2/`. The classes are the N most frequent object names
(--top-classes, default 500, as the "VG500" of multi-label papers), counted by images; a name is normalised by lower
case and single spaces (no plural merging: `tree` and `trees` stay two names). An image with none of the N names is
left out. Train / val / test are a seeded split of the images (--split-seed, --split-fractions), written beside the
run as split.csv: the SSGRL lists ship no class names, so their split cannot be read against names."""
import json
import os
import re
from collections import Counter

import numpy as np

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader

DEFAULT_CLASSES = 500
IMAGE_DIRS = ('VG_100K', 'VG_100K_2')


def normalise(name: str) -> str:
    return ' '.join(str(name).lower().split())


def _load(path):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise LabelFileError(f'{path}: not readable JSON ({e})') from e


class VisualGenomeReader(LabelReader):
    name = 'vg'
    specific = True
    meanings = ('an object of the name in the image = positive, no such object = negative (Visual Genome objects are '
                'not exhaustive: a missing name is read as absent)')
    layout = 'Visual Genome: `objects.json` + `image_data.json`, images in `VG_100K/` / `VG_100K_2/`; split by seed'

    def locate_whole(self, root):
        if root and os.path.isfile(os.path.join(root, 'objects.json')) and \
                os.path.isfile(os.path.join(root, 'image_data.json')):
            return os.path.join(root, 'objects.json')
        return None

    def recognise(self, source, options=None):
        return 'Visual Genome objects.json beside image_data.json' if os.path.basename(source) == 'objects.json' and \
            os.path.isfile(os.path.join(os.path.dirname(source), 'image_data.json')) else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        root = os.path.dirname(source)
        folder_of = {}
        for entry in _load(os.path.join(root, 'image_data.json')):
            image_id = entry.get('image_id', entry.get('id'))
            found = re.search(r'(VG_100K(?:_2)?)/', str(entry.get('url') or ''))
            if image_id is not None and found:
                folder_of[int(image_id)] = found.group(1)
        per_image = {}
        for n, entry in enumerate(_load(source)):
            image_id = entry.get('image_id', entry.get('id'))
            if image_id is None:
                raise LabelFileError(f'{source}: entry {n} has no image_id')
            per_image[int(image_id)] = {normalise(name) for obj in entry.get('objects') or []
                                        for name in obj.get('names') or [] if normalise(name)}
        if options.classes is not None:
            classes = list(options.classes)
        else:
            counts = Counter(name for names in per_image.values() for name in names)
            n_classes = options.top_classes or DEFAULT_CLASSES
            classes = [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n_classes]]
        index = {c: i for i, c in enumerate(classes)}
        paths, rows = [], []
        for image_id in sorted(per_image):
            hit = [index[name] for name in per_image[image_id] if name in index]
            if not hit:
                continue
            folder = folder_of.get(image_id) or next(
                (d for d in IMAGE_DIRS if os.path.isfile(os.path.join(root, d, f'{image_id}.jpg'))), IMAGE_DIRS[0])
            row = np.zeros(len(classes), np.int8)
            row[hit] = 1
            paths.append(f'{folder}/{image_id}.jpg')
            rows.append(row)
        dense = np.stack(rows) if rows else np.zeros((0, len(classes)), np.int8)
        return LabelSet(LabelSchema(classes), paths, SparseTargets.from_dense(dense), root, [], source, self.name,
                        split)
