""" OpenImages (V6 layout): `<root>/<split>-annotations-human-imagelabels*.csv` (ImageID, Source, LabelName, Confidence)
(the V6 split names train / validation / test; 'val' finds validation)
with `<root>/*class-descriptions*.csv` (LabelName, DisplayName); images in `<root>/<split>/<ImageID>.jpg`.

Confidence 1 is a positive, 0 a verified negative, and every class not listed for an image is unknown: the
partial-label set CSL trains on. Read with pandas in vectorised passes, 9M rows x 20k classes in seconds; targets are
stored around the unknown fill, so memory grows with the annotations, not with images x classes.
"""
import csv
import glob
import logging
import os
import re

import numpy as np
import pandas as pd

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import UNKNOWN, SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader, open_text

_logger = logging.getLogger(__name__)


IMAGE_FOLDER_ALIASES = {'val': ('validation',), 'validation': ('val',)}


def openimages_label_files(root: str, split: str):
    """The image-level label files of a split, V6 / V7 names included (oidv7-train-annotations-human-imagelabels.csv)."""
    return sorted(glob.glob(os.path.join(root, f'{split}-annotations-human-imagelabels*.csv')) +
                  glob.glob(os.path.join(root, f'oidv[0-9]-{split}-annotations-human-imagelabels*.csv')))


def split_of_file(path: str) -> str:
    name = os.path.basename(path).split('-annotations-human-imagelabels')[0]
    return re.sub(r'^oidv[0-9]-', '', name)


def _one(paths, what, root):
    if not paths:
        raise LabelFileError(f'{root}: no {what}')
    if len(paths) > 1:
        raise LabelFileError(f'{root}: several {what}: {[os.path.basename(p) for p in paths]}; keep one')
    return paths[0]


def read_class_descriptions(path: str):
    """{LabelName (MID): DisplayName} in file order; the header row is optional (boxable files have none)."""
    names = {}
    with open_text(path, newline='') as f:
        for row, cells in enumerate(csv.reader(f), start=1):
            if row == 1 and cells[:2] == ['LabelName', 'DisplayName']:
                continue
            if len(cells) < 2:
                raise LabelFileError(f'{path}: row {row}: expected LabelName,DisplayName')
            names[cells[0].strip()] = cells[1].strip()
    return names


def read_openimages(root: str, split: str, classes=None, on_bad: str = 'error') -> LabelSet:
    """ Args:
        root: The OpenImages folder. split: train / validation / test.
        classes: Fixed class order (else the display names of the classes the split annotates, in the class
            descriptions' order; a display name shared by several MIDs becomes 'name (MID)').
        on_bad: 'error' or 'skip' for labels outside the class list / bad confidences.
    """
    label_file = _one(openimages_label_files(root, split), f'{split}-annotations-human-imagelabels*.csv', root)
    descriptions = read_class_descriptions(_one(
        [p for p in glob.glob(os.path.join(root, '*class-descriptions*.csv')) if 'boxable' not in p]
        or glob.glob(os.path.join(root, '*class-descriptions*.csv')), 'class-descriptions*.csv', root))
    frame = pd.read_csv(label_file, usecols=['ImageID', 'LabelName', 'Confidence'],
                        dtype={'ImageID': str, 'LabelName': 'category', 'Confidence': np.float32})
    bad_conf = ~frame.Confidence.isin([0., 1.])
    mids = frame.LabelName.cat.categories
    missing = [m for m in mids if m not in descriptions]
    if missing:
        raise LabelFileError(f'{label_file}: label names {missing[:5]} have no class description')
    display = [descriptions[m] for m in mids]
    counts = pd.Series(display).value_counts()
    names = [d if counts[d] == 1 else f'{d} ({m})' for d, m in zip(display, mids)]
    if classes is None:
        order = {m: i for i, m in enumerate(descriptions)}
        classes = [n for _, n in sorted(zip((order[m] for m in mids), names))]
    index = {c: i for i, c in enumerate(classes)}
    code_to_class = np.array([index.get(n, -1) for n in names], dtype=np.int32)
    cls = code_to_class[frame.LabelName.cat.codes.to_numpy()]
    bad = bad_conf.to_numpy() | (cls < 0)
    skipped = []
    if bad.any():
        first = int(np.argmax(bad))
        what = (f'confidence {frame.Confidence.iloc[first]} (expected 0 or 1)' if bad_conf.iloc[first] else
                f'label {frame.LabelName.iloc[first]} ({names[frame.LabelName.cat.codes.iloc[first]]}) is not in the '
                'class list')
        message = f'{label_file}: row {first + 2}: {what}'
        if on_bad == 'error':
            raise LabelFileError(message + f' ({int(bad.sum())} such rows)')
        skipped = [f'{message} and {int(bad.sum()) - 1} more rows']
    image_codes, images = pd.factorize(frame.ImageID, sort=False)
    keep = ~bad
    image_codes, cls, values = image_codes[keep], cls[keep], frame.Confidence.to_numpy()[keep].astype(np.int8)
    # one entry per (image, class); rows grouped by image in first-appearance order. An (image, class) listed both as
    # positive and as verified negative is unknown: no entry (the fill), counted in a warning.
    keys = image_codes.astype(np.int64) * len(classes) + cls
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    conflict = np.zeros(len(first), dtype=bool)
    np.logical_or.at(conflict, inverse, values != values[first][inverse])
    if conflict.any():
        at = int(first[np.argmax(conflict)])
        _logger.warning(f'{label_file}: {int(conflict.sum())} (image, class) pairs listed with both Confidence 1 and 0 '
                        f'are unknown, first: {images[image_codes[at]]} {classes[cls[at]]}')
        first = first[~conflict]
    first.sort()
    order = first[np.argsort(image_codes[first], kind='stable')]
    indptr = np.zeros(len(images) + 1, dtype=np.int64)
    np.cumsum(np.bincount(image_codes[order], minlength=len(images)), out=indptr[1:])
    targets = SparseTargets(len(classes), indptr, cls[order].astype(np.int32), values[order], UNKNOWN)
    folder = next((f for f in (split, *IMAGE_FOLDER_ALIASES.get(split, ())) if os.path.isdir(os.path.join(root, f))),
                  split)  # V7 names its val labels oidv7-val-*, its images validation/
    paths = [f'{folder}/{image_id}.jpg' for image_id in images]
    return LabelSet(LabelSchema(list(classes)), paths, targets, root, skipped, label_file, 'openimages', split)


class OpenImagesReader(LabelReader):
    name = 'openimages'
    meanings = 'Confidence 1 = positive, 0 = verified negative, a class not listed for an image = unknown'
    layout = ('`<split>-annotations-human-imagelabels*.csv`, `*class-descriptions*.csv`, images `<split>/<ImageID>.jpg`; '
              'Confidence 1 / 0 / unlisted = positive / verified negative / unknown')
    split_aliases = {'val': ('validation',), 'validation': ('val',)}

    def locate(self, root, split):
        for name in self.split_names(split):
            files = openimages_label_files(root, name)
            if files:
                return files[0]
        return None

    def recognise(self, source, options=None):
        if '-annotations-human-imagelabels' in os.path.basename(source) and source.endswith('.csv'):
            return 'an OpenImages <split>-annotations-human-imagelabels*.csv file'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        return read_openimages(os.path.dirname(source), split_of_file(source), options.classes, options.on_bad)
