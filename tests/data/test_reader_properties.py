""" Property tests of the readers: random class names (separators, quotes, spaces, unicode) and random unknown
patterns, written with one writer per format and read back: the truth, or a LabelFileError naming the file — never a
silent wrong label."""
import csv
import re
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.strategies import class_name
from timm_ml.data import LabelFileError, LabelOptions, read_label_set
from timm_ml.data.readers.csv_rows import METADATA_WORDS

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # examples: the profile


@st.composite
def label_lists(draw, forbidden='', unannotated=True):
    classes = draw(st.lists(class_name(forbidden), min_size=1, max_size=6, unique=True))
    row = st.lists(st.sampled_from(classes), max_size=4, unique=True)
    rows = draw(st.lists(st.one_of(st.none(), row) if unannotated else row, min_size=1, max_size=8))
    return classes, rows  # None: an unannotated image


def truth(classes, rows, order):
    out = []
    for r in rows:
        out.append([-1] * len(order) if r is None else [int(c in r) for c in order])
    return out


def _read(tmp_path, name, **options):
    return read_label_set(None, str(tmp_path / name), 'auto', LabelOptions(**options), log=False)


@settings(**SETTINGS)
@given(label_lists(), st.sampled_from([',', ';', '|', ' ']), st.booleans())
def test_label_list_csv_reads_back_the_truth_or_refuses(tmp_path_factory, data, delimiter, with_class_list):
    classes, rows = data
    tmp_path = tmp_path_factory.mktemp('csv')
    with open(tmp_path / 'train.csv', 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['path', 'labels'])
        for i, r in enumerate(rows):
            w.writerow([f'{i}.png', '#N/A' if r is None else delimiter.join(r)])
    options = dict(classes=classes) if with_class_list else {}
    try:
        ls = _read(tmp_path, 'train.csv', **options)
    except LabelFileError as e:
        assert 'train.csv' in str(e)  # refused, naming the file
        return
    read_back = [None if all(v == -1 for v in row) and rows[i] is None else
                 {c for c, v in zip(ls.classes, row) if v == 1} for i, row in enumerate(ls.targets.dense().tolist())]
    written = [None if r is None else set(r) for r in rows]
    holds_separator = any(d in c for c in classes for d in ',;|')
    if with_class_list or not holds_separator:
        # with the class list every cell is decided; without it, names free of , ; | always read back
        assert read_back == written, (ls.classes, rows)
        if with_class_list:
            assert ls.classes == classes


@settings(**SETTINGS)
@given(label_lists(unannotated=False))
def test_otx_json_reads_back_the_truth(tmp_path_factory, data):
    classes, rows = data
    tmp_path = tmp_path_factory.mktemp('otx')
    (tmp_path / 'train.json').write_text(json.dumps(dict(classes=classes, images=[[f'{i}.png', r] for i, r in
                                                                                  enumerate(rows)])))
    ls = _read(tmp_path, 'train.json')
    assert ls.format == 'otx' and ls.classes == classes
    assert ls.targets.dense().tolist() == truth(classes, rows, classes)


@settings(**SETTINGS)
@given(label_lists(forbidden=',', unannotated=False))
def test_tsv_with_class_list_reads_back_the_truth(tmp_path_factory, data):
    classes, rows = data
    tmp_path = tmp_path_factory.mktemp('tsv')
    (tmp_path / 'label.txt').write_text('\n'.join(classes) + '\n', encoding='utf-8')
    (tmp_path / 'train.tsv').write_text(''.join(f'{i}.png\t{",".join(r)}\n' for i, r in enumerate(rows)),
                                        encoding='utf-8')
    ls = _read(tmp_path, 'train.tsv')
    assert ls.classes == classes and ls.targets.dense().tolist() == truth(classes, rows, classes)


@st.composite
def attribute_tables(draw):
    names = draw(st.lists(class_name(',;|='), min_size=1, max_size=3, unique=True))
    values = [draw(st.lists(class_name(',;|'), min_size=1, max_size=4, unique=True)) for _ in names]
    n = draw(st.integers(1, 8))
    cells = [[draw(st.one_of(st.sampled_from(v), st.sampled_from(['#N/A', '']))) for v in values] for _ in range(n)]
    return names, values, cells


@settings(**SETTINGS)
@given(attribute_tables())
def test_attribute_csv_reads_back_the_truth(tmp_path_factory, table):
    names, values, cells = table
    assume(all(n.lower() not in ('path', 'image', 'filename', 'file', 'img', 'image_path', 'image_name', 'image_id',
                                 'labels', 'tags', 'label_list', 'label_names', 'classes', 'label', 'categories')
               for n in names))
    for a in range(len(names)):  # a softmax head needs at least one known value per attribute
        assume(any(row[a] not in ('#N/A', '') for row in cells))
    tmp_path = tmp_path_factory.mktemp('attr')
    with open(tmp_path / 'train.csv', 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['filename'] + names)
        w.writerows([f'{i}.png'] + row for i, row in enumerate(cells))
    try:
        ls = read_label_set(None, str(tmp_path / 'train.csv'), 'attributes', LabelOptions(), log=False)
    except LabelFileError as e:
        assert 'train.csv' in str(e)
        return
    expected = []
    for row in cells:
        out = []
        for g, cell in zip(ls.schema.groups, row):
            out += [-1] * len(g.values) if cell in ('#N/A', '') else [int(v == cell) for v in g.values]
        expected.append(out)
    assert [g.name for g in ls.schema.groups] == names
    assert ls.targets.dense().tolist() == expected


@settings(**SETTINGS)
@given(st.lists(class_name(',;|'), min_size=1, max_size=5, unique=True), st.integers(0, 2 ** 31 - 1))
def test_one_hot_csv_reads_back_the_truth(tmp_path_factory, classes, seed):
    assume(all(c.lower() not in ('path', 'image', 'filename', 'file', 'img', 'image_path', 'image_name', 'image_id',
                                 'labels', 'tags', 'label_list', 'label_names', 'classes', 'label', 'categories')
               for c in classes))
    assume(not any(set(re.split(r'[^a-z0-9]+', c.lower())) & METADATA_WORDS for c in classes))  # read as metadata
    rng = np.random.default_rng(seed)
    dense = rng.integers(-1, 2, (6, len(classes)))
    spell = {1: '1', 0: '0', -1: '-1'}
    tmp_path = tmp_path_factory.mktemp('hot')
    with open(tmp_path / 'train.csv', 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['filename'] + classes)
        w.writerows([f'{i}.png'] + [spell[v] for v in r] for i, r in enumerate(dense))
    ls = read_label_set(None, str(tmp_path / 'train.csv'), 'multihot', LabelOptions(), log=False)
    assert ls.classes == classes and ls.targets.dense().tolist() == dense.tolist()


@settings(**SETTINGS)
@given(st.lists(class_name(), min_size=1, max_size=5, unique=True), st.integers(0, 2 ** 31 - 1))
def test_coco_reads_back_the_truth(tmp_path_factory, classes, seed):
    rng = np.random.default_rng(seed)
    ids = rng.permutation(100)[:len(classes)] + 1  # category ids in no particular order
    n = 6
    annotations, truth_rows = [], []
    for i in range(n):
        present = [k for k in range(len(classes)) if rng.random() < 0.4]
        truth_rows.append(present)
        annotations += [dict(id=len(annotations), image_id=1000 + i, category_id=int(ids[k])) for k in present for _ in
                        range(int(rng.integers(1, 3)))]  # an object class may appear several times
    tmp_path = tmp_path_factory.mktemp('coco')
    os.makedirs(tmp_path / 'annotations')
    (tmp_path / 'annotations' / 'instances_train2017.json').write_text(json.dumps(dict(
        images=[dict(id=1000 + i, file_name=f'{i}.jpg') for i in range(n)], annotations=annotations,
        categories=[dict(id=int(i), name=c) for i, c in zip(ids, classes)])))
    ls = read_label_set(str(tmp_path), 'train', 'auto', LabelOptions(), log=False)  # train finds train2017
    order = [c for _, c in sorted(zip(ids, classes))]
    assert ls.format == 'coco' and ls.split == 'train2017' and ls.classes == order
    assert ls.targets.dense().tolist() == [[int(classes.index(c) in r) for c in order] for r in truth_rows]


PATH_OR_LIST_NAMES = ('path', 'image', 'filename', 'file', 'img', 'image_path', 'image_name', 'image_id', 'labels',
                      'tags', 'label_list', 'label_names', 'classes', 'label', 'categories')
SPELLINGS = {1: ['1', '1.0', 'true', 'True', 'TRUE'], 0: ['0', '0.0', 'false', 'False'], -1: ['-1', '#N/A', '']}


@settings(**SETTINGS)
@given(st.lists(class_name(',;|'), min_size=1, max_size=5, unique=True), st.integers(0, 2 ** 31 - 1), st.booleans())
def test_one_hot_csv_in_any_spelling_is_found_and_a_typo_is_named(tmp_path_factory, classes, seed, typo):
    """0/1, 1.0/0.0 and true/false one-hot files are found as one-hot (auto) and read back; a file with a typing error
    in one cell is still read as one-hot and the bad cell named by row and column, never read as attributes."""
    assume(all(c.lower() not in PATH_OR_LIST_NAMES for c in classes))
    assume(not any(set(re.split(r'[^a-z0-9]+', c.lower())) & METADATA_WORDS for c in classes))  # read as metadata
    rng = np.random.default_rng(seed)
    rows = 60
    dense = rng.integers(-1, 2, (rows, len(classes)))
    dense[0], dense[1] = 1, 0  # every column holds a positive and a negative
    cells = [[SPELLINGS[v][rng.integers(len(SPELLINGS[v]))] for v in r] for r in dense]
    bad_row, bad_col = int(rng.integers(2, rows)), int(rng.integers(len(classes)))
    if typo:
        cells[bad_row][bad_col] = 'l'  # a lower-case L for a 1
    tmp_path = tmp_path_factory.mktemp('hot')
    with open(tmp_path / 'train.csv', 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['filename'] + classes)
        w.writerows([f'{i}.png'] + r for i, r in enumerate(cells))
    if typo:
        with pytest.raises(LabelFileError, match=rf"train\.csv: row {bad_row + 2}: column .*'l' is not a declared value"):
            _read(tmp_path, 'train.csv')
        return
    ls = _read(tmp_path, 'train.csv')
    assert ls.format == 'multihot' and ls.classes == classes and ls.targets.dense().tolist() == dense.tolist()


@settings(**SETTINGS)
@given(label_lists(unannotated=False))
def test_python_list_cells_read_back_the_truth(tmp_path_factory, data):
    """pandas writes a list column as "['cat', 'dog']": read as that list, whatever the class names hold."""
    classes, rows = data
    tmp_path = tmp_path_factory.mktemp('lists')
    with open(tmp_path / 'train.csv', 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['path', 'labels'])
        w.writerows([f'{i}.png', str(list(r))] for i, r in enumerate(rows))
    ls = _read(tmp_path, 'train.csv', classes=classes)
    read_back = [{c for c, v in zip(ls.classes, row) if v == 1} for row in ls.targets.dense().tolist()]
    assert read_back == [set(r) for r in rows]


@pytest.mark.parametrize('column', ['error', 'scores', 'top3'])
def test_a_column_named_like_a_prediction_field_is_refused_naming_the_file(tmp_path, column):
    """Found by the attribute-table property above: the schema refused the group name without naming the file."""
    (tmp_path / 'train.csv').write_text(f'filename,{column}\n0.png,a\n1.png,b\n')
    with pytest.raises(LabelFileError, match=r'train\.csv: a label group is named'):
        read_label_set(None, str(tmp_path / 'train.csv'), 'attributes', LabelOptions(), log=False)
