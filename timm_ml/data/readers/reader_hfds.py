""" Hugging Face datasets (`--dataset hfds/<name or local folder>`): a dataset saved with `save_to_disk`, or one in the
local Hugging Face cache (nothing is downloaded: HF_DATASETS_OFFLINE is honoured as set), read as a LabelSet whose
images come from the dataset rows.

Targets: `--target-key` (default: the first `Sequence(ClassLabel)` / `List(ClassLabel)` feature) holds the positive
class indices of each row, the class names coming from the ClassLabel feature; a feature named
`<target key>_negatives` (same kind) lists verified negatives, and then every other class is unknown (-1); without it
the other classes are negatives. A target that is a list of floats of the class count is read as a vector of
1 / 0 / -1 (class names then from `--class-map`). `--input-key` (default: the first Image feature) holds the images.
"""
import glob
import hashlib
import io
import logging
import os
from typing import Optional

import numpy as np
from PIL import Image

from timm_ml.image import to_mode
from timm_ml.schema import LabelSchema

from ..label_set import LabelSet, class_difference
from ..targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargets, SparseTargetsBuilder
from .reader import LabelFileError, LabelOptions, LabelReader

_logger = logging.getLogger(__name__)


def is_hf_folder(path: str) -> bool:
    """A folder holding a Hugging Face dataset: save_to_disk's (dataset_dict.json, or state.json and dataset_info.json)
    or the hub's parquet files (data/<split>-00000-of-00001.parquet, or *.parquet)."""
    if not path or not os.path.isdir(path):
        return False
    if os.path.isfile(os.path.join(path, 'dataset_dict.json')) or (
            os.path.isfile(os.path.join(path, 'state.json')) and os.path.isfile(os.path.join(path, 'dataset_info.json'))):
        return True
    return bool(glob.glob(os.path.join(path, 'data', '*.parquet')) or glob.glob(os.path.join(path, '*.parquet')))


def _saved_to_disk(path: str) -> bool:
    return os.path.isfile(os.path.join(path, 'dataset_dict.json')) or os.path.isfile(os.path.join(path, 'state.json'))


def _load(name: str, split: str, trust_remote_code: bool = False):
    import datasets  # streams extra
    if os.path.isdir(name):
        data = datasets.load_from_disk(name) if _saved_to_disk(name) else datasets.load_dataset(name)
        if isinstance(data, datasets.DatasetDict):
            names = list(data)
            alias = {'val': 'validation', 'validation': 'val'}.get(split)
            if split not in data and alias in data:
                split = alias
            if split not in data:
                raise LabelFileError(f'{name}: no split {split!r} (splits: {names})')
            data = data[split]
        return data, split
    return datasets.load_dataset(name, split=split, trust_remote_code=trust_remote_code), split


def _class_label(feature):
    """The ClassLabel inside a Sequence / List feature, or None."""
    import datasets  # streams extra
    inner = getattr(feature, 'feature', None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    return inner if isinstance(inner, datasets.ClassLabel) else None


class HfImages:
    """Images of a Hugging Face dataset by row index, through the one image decoder's conversion."""

    def __init__(self, data, key: str):
        self.data, self.key = data, key

    def load(self, path: str, mode: str = 'RGB'):
        img = self.data[int(path)][self.key]
        if isinstance(img, dict) and img.get('bytes') is not None:
            img = Image.open(io.BytesIO(img['bytes']))
        return to_mode(img, mode)

    def digests(self):
        """A digest of each row's image (its encoded bytes, or its file), in row order: what the overlap check of two
        splits compares (row numbers of two splits say nothing about their images)."""
        import datasets
        raw = self.data.cast_column(self.key, datasets.Image(decode=False))
        out = []
        for item in raw[self.key]:
            data = (item or {}).get('bytes')
            if data is None and (item or {}).get('path') and os.path.isfile(item['path']):
                with open(item['path'], 'rb') as f:
                    data = f.read()
            out.append(hashlib.sha1(data).hexdigest() if data is not None else None)
        return out


def _negative_index(feature, classes, name):
    """Verified negatives name classes by their own ClassLabel: each index mapped to the positives' index of the same
    class name (a negatives list in another order would otherwise mark other classes)."""
    label = _class_label(feature)
    if label is None:
        return {i: i for i in range(len(classes))}
    position = {c: i for i, c in enumerate(classes)}
    missing = [n for n in label.names if n not in position]
    if missing:
        raise LabelFileError(f'{name}: the verified-negative feature names classes the positives do not have: '
                             f'{missing[:5]}')
    return {i: position[n] for i, n in enumerate(label.names)}


class HfFolderReader(LabelReader):
    """A Hugging Face dataset folder given as the data root (no --dataset needed): save_to_disk's layout or the hub's
    parquet files, read as --dataset hfds/<folder> reads it."""
    name = 'hf'
    specific = True
    meanings = ('a class index in the target feature = positive, one in `<target>_negatives` = verified negative; the '
                'others negative, or unknown when a negatives feature exists')
    layout = 'a Hugging Face dataset folder: `dataset_dict.json` (save_to_disk) or `data/<split>-00000-of-00001.parquet`'

    def locate(self, root, split):
        return root if is_hf_folder(root) else None

    def recognise(self, source, options=None):
        return 'a Hugging Face dataset folder' if is_hf_folder(source) else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        return read_hf_split(source, split, options)


def read_hf_split(name: str, split: str, options: LabelOptions, input_key: Optional[str] = None,
                  target_key: Optional[str] = None, trust_remote_code: bool = False) -> LabelSet:
    import datasets  # streams extra
    data, split = _load(name, split, trust_remote_code)
    features = data.features
    image_key = input_key or next((k for k, f in features.items() if isinstance(f, datasets.Image)), None)
    if image_key is None or image_key not in features:
        raise LabelFileError(f'{name}: no image feature (features: {list(features)}); name it with --input-key')
    if target_key is None:
        target_key = next((k for k, f in features.items() if _class_label(f) is not None and
                           not k.endswith('_negatives')), None)
    if target_key is None or target_key not in features:
        raise LabelFileError(f'{name}: no Sequence(ClassLabel) target (features: {list(features)}); name it with '
                             '--target-key')
    label = _class_label(features[target_key])
    negatives_key = f'{target_key}_negatives' if f'{target_key}_negatives' in features else None
    columns = data.select_columns([c for c in (target_key, negatives_key) if c])
    rows = columns.to_dict()
    if label is not None:
        classes = list(label.names)
        fill = UNKNOWN if negatives_key else NEGATIVE
        to_class = _negative_index(features[negatives_key], classes, name) if negatives_key else None
        builder = SparseTargetsBuilder(len(classes), fill=fill)
        both = 0
        for i, pos in enumerate(rows[target_key]):
            pos = sorted(set(pos))
            listed = {to_class[n] for n in rows[negatives_key][i]} if negatives_key else set()
            conflict = listed & set(pos)
            both += len(conflict)
            pos = [p for p in pos if p not in conflict]  # a conflict stays unknown
            neg = sorted(listed - conflict)
            builder.add(pos + neg, [POSITIVE] * len(pos) + [NEGATIVE] * len(neg))
        targets = builder.build()
        if both:
            _logger.warning(f'{name} ({split}): {both} (image, class) pairs are listed both as positive and as verified '
                            'negative: read as unknown')
    else:
        dense = np.asarray(rows[target_key], dtype=np.float32)
        if dense.ndim != 2 or not np.isin(dense, (-1, 0, 1)).all():
            raise LabelFileError(f'{name}: --target-key {target_key} is neither a Sequence(ClassLabel) nor a vector '
                                 'of 1 / 0 / -1 per class')
        classes = options.classes or [str(i) for i in range(dense.shape[1])]
        targets = SparseTargets.from_dense(dense.astype(np.int8))
    if options.classes is not None and list(options.classes) != classes:
        raise LabelFileError(f'{name} ({split}): {class_difference(options.classes, classes)}')
    labels = LabelSet(LabelSchema(classes), [str(i) for i in range(len(data))], targets, '', [],
                      f'hfds/{name} ({split})', 'hfds', split)
    labels.images = HfImages(data, image_key)
    return labels
