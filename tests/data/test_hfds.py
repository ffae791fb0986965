""" Hugging Face datasets as read by the hfds reader: what each cell means, checked where it enters (verified negatives
named by their own ClassLabel list, a pair both positive and negative), and the train / val overlap counted by image
content, never by row number."""
import datasets
import numpy as np
import pytest
from PIL import Image

from timm_ml.config import LabelsConfig
from timm_ml.data import LabelOptions, create_label_sets
from timm_ml.data.label_sets import shared_images
from timm_ml.data.readers.reader_hfds import read_hf_split


def _image(value):
    return Image.fromarray(np.full((8, 8, 3), value, np.uint8))


def _save(path, splits):
    parts = {}
    for name, (images, pos, neg, neg_names) in splits.items():
        features = dict(image=datasets.Image(), labels=datasets.Sequence(datasets.ClassLabel(names=['cat', 'dog', 'car'])))
        columns = dict(image=[_image(v) for v in images], labels=pos)
        if neg is not None:
            features['labels_negatives'] = datasets.Sequence(datasets.ClassLabel(names=neg_names))
            columns['labels_negatives'] = neg
        parts[name] = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    datasets.DatasetDict(parts).save_to_disk(str(path))
    return str(path)


def test_negatives_are_read_by_their_own_class_names_and_a_conflict_is_unknown(tmp_path, caplog):
    # the negatives' ClassLabel lists the classes in another order: index 0 of it is 'car', not 'cat'
    path = _save(tmp_path / 'hf', {'train': ([10, 20], [[0], [1]], [[0], [2, 0]], ['car', 'cat', 'dog'])})
    dense = read_hf_split(path, 'train', LabelOptions()).targets.dense()
    assert dense.tolist() == [[1, -1, 0],   # cat positive; negative 0 is 'car'; dog unknown
                              [-1, -1, 0]]  # dog both positive and negative ('dog'): unknown; negative 0 'car'; cat
    assert 'listed both as positive and as verified negative' in caplog.text


def test_negatives_naming_a_class_the_positives_lack_are_refused(tmp_path):
    path = _save(tmp_path / 'hf', {'train': ([10], [[0]], [[0]], ['bus'])})
    with pytest.raises(ValueError, match=r"verified-negative feature names classes the positives do not have: \['bus'\]"):
        read_hf_split(path, 'train', LabelOptions())


def test_train_and_val_overlap_is_counted_by_image_content_not_row_number(tmp_path, caplog):
    disjoint = _save(tmp_path / 'a', {'train': ([1, 2, 3], [[0], [1], [2]], None, None),
                                      'validation': ([4, 5, 6], [[0], [1], [2]], None, None)})
    train, val = create_label_sets(LabelsConfig(root=disjoint, dataset=f'hfds/{disjoint}'), log=True)
    assert shared_images(train, val) == 0 and 'also training images' not in caplog.text  # rows 0-2 in both: no warning
    leaking = _save(tmp_path / 'b', {'train': ([1, 2, 3], [[0], [1], [2]], None, None),
                                     'validation': ([9, 2, 3], [[0], [1], [2]], None, None)})
    train, val = create_label_sets(LabelsConfig(root=leaking, dataset=f'hfds/{leaking}'), log=True)
    assert shared_images(train, val) == 2 and '2 of 3 val images' in caplog.text
