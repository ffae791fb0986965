""" MultiLabelDataset: unreadable images found up front or named when reached, counted skips, the one decoder."""
import shutil

import numpy as np
import pytest
from PIL import Image

from timm_ml.data import BadImageError, LabelSet, MultiLabelDataset, SparseTargets
from timm_ml.schema import LabelSchema


def _images(tmp_path, extra):
    """Three good PNGs plus bad files: {name: bytes or None (missing)}."""
    good = tmp_path / 'good0.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    names = ['good0.png']
    for i in (1, 2):
        shutil.copy(good, tmp_path / f'good{i}.png')
        names.append(f'good{i}.png')
    for name, content in extra.items():
        if content is not None:
            (tmp_path / name).write_bytes(content if content != 'half' else good.read_bytes()[:6000])
        names.append(name)
    targets = SparseTargets.from_dense(np.eye(len(names), 2, dtype=np.int8))
    return LabelSet(LabelSchema(['a', 'b']), names, targets, str(tmp_path), source=str(tmp_path / 'val.json'))


BAD = {'zero.png': b'', 'text.png': b'not an image', 'missing.png': None}


def test_header_check_finds_missing_empty_and_non_images_up_front(tmp_path):
    labels = _images(tmp_path, BAD)
    with pytest.raises(BadImageError, match=r'3 unreadable images in .*val\.json, first: .*zero\.png \(entry 3\)'):
        MultiLabelDataset(labels, verify='header')
    kept = MultiLabelDataset(labels, bad_images='skip', verify='header')
    assert len(kept) == 3 and len(kept.skipped) == 3


def test_truncated_image_passes_the_header_check_but_not_the_full_one(tmp_path):
    labels = _images(tmp_path, {'half.png': 'half'})
    assert len(MultiLabelDataset(labels, bad_images='skip', verify='header')) == 4
    assert len(MultiLabelDataset(labels, bad_images='skip', verify='full')) == 3
    assert len(MultiLabelDataset(labels, bad_images='skip')) == 3  # skip checks fully by default


def test_a_split_with_no_readable_image_is_an_error_not_an_empty_evaluation(tmp_path):
    labels = _images(tmp_path, BAD).subset([3, 4, 5])
    with pytest.raises(BadImageError, match='Every image of .*val.json is unreadable'):
        MultiLabelDataset(labels, bad_images='skip')
