import json
import os

import numpy as np
import pytest

from timm_ml.data import LabelFileError, SparseTargets, read_class_list, simulate_partial
from timm_ml.schema import LabelSchema
from tests.helpers import FIXTURES, dense, read


def test_otx_json():
    ls = read(os.path.join(FIXTURES, 'otx.json'))
    assert ls.classes == ['cat', 'dog', 'person']
    assert ls.paths == ['img/a.jpg', 'img/b.jpg', 'img/c.jpg']
    assert ls.root == FIXTURES
    # duplicate label allowed, empty list = all negative
    assert dense(ls) == [[0, 1, 1], [0, 0, 0], [1, 0, 0]]


def test_label_list_csv_sorted_classes_and_class_map(tmp_path):
    with pytest.raises(LabelFileError, match='spaces occur, which may separate labels or belong to class names'):
        read(os.path.join(FIXTURES, 'labels.csv'))
    ls = read(os.path.join(FIXTURES, 'labels.csv'), label_delimiter=' ')
    assert ls.classes == ['cat', 'dog', 'person']
    assert dense(ls) == [[0, 1, 1], [0, 0, 0], [1, 0, 0]]
    class_map = tmp_path / 'classes.txt'
    class_map.write_text('person\ncat\ndog\nhorse\n')
    ls = read(FIXTURES, 'labels', classes=read_class_list(str(class_map)))
    assert ls.classes == ['person', 'cat', 'dog', 'horse']
    assert dense(ls) == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]]


def test_label_list_csv_custom_delimiter(tmp_path):
    f = tmp_path / 'train.csv'
    f.write_text('path,labels\nx.jpg,T-shirt/top|Ankle boot\n')
    ls = read(str(f), label_delimiter='|')
    assert ls.classes == ['Ankle boot', 'T-shirt/top']
    assert dense(ls) == [[1, 1]]


def test_attribute_csv_unknown_cells():
    ls = read(os.path.join(FIXTURES, 'attributes.csv'))
    assert ls.schema.kind == 'attributes'
    assert [g.name for g in ls.schema.groups] == ['neck', 'sleeve_length', 'pattern']
    assert [g.values for g in ls.schema.groups] == [['V-neck', 'round'], ['long', 'short'], ['floral', 'striped']]
    assert ls.classes == ['neck=V-neck', 'neck=round', 'sleeve_length=long', 'sleeve_length=short',
                          'pattern=floral', 'pattern=striped']
    assert dense(ls) == [
        [1, 0, 0, 1, -1, -1],   # pattern #N/A
        [-1, -1, 1, 0, 0, 1],   # neck #N/A
        [0, 1, -1, -1, 1, 0],   # empty sleeve cell
    ]
    assert [(g.start, g.end) for g in ls.schema.groups] == [(0, 2), (2, 4), (4, 6)]
    legacy = LabelSchema.from_config(dict(classes=ls.classes, group_sizes=[2, 2, 2],
                                          attribute_names=['neck', 'sleeve_length', 'pattern']))
    assert legacy == ls.schema  # checkpoints written before the schema read the same


def test_tsv_with_label_txt():
    ls = read(os.path.join(FIXTURES, 'tsv'), 'train')
    assert ls.classes == ['person', 'dog', 'cat']
    assert dense(ls) == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_val_split_uses_train_classes(tmp_path):
    (tmp_path / 'train.csv').write_text('path,labels\na.jpg,b c\n')
    (tmp_path / 'val.csv').write_text('path,labels\nx.jpg,c\ny.jpg,zebra\n')
    train = read(str(tmp_path), 'train', label_delimiter=' ')
    with pytest.raises(LabelFileError, match=r"val.csv: row 3: label 'zebra' is not in the class list"):
        read(str(tmp_path), 'val', classes=train.classes)
    val = read(str(tmp_path), 'val', classes=train.classes, on_bad='skip')
    assert val.paths == ['x.jpg'] and len(val.skipped) == 1 and dense(val) == [[0, 1]]


@pytest.mark.parametrize('name,content,message', [
    ('bad.json', json.dumps({'classes': ['a'], 'images': [['x.jpg', ['a']], ['y.jpg', 'a']]}),
     r'bad.json: row 1: expected \["path", \[labels...\]\]'),
    ('bad.json', json.dumps({'classes': ['a'], 'images': [['x.jpg', ['a']], ['x.jpg', []]]}),
     r"bad.json: row 1: duplicate image path 'x.jpg' \(first at row 0\)"),
    ('bad.csv', 'path,labels\nx.jpg,a\ny.jpg,a,extra\n', r'bad.csv: row 3: expected 2 fields, got 3'),
    ('bad.tsv', 'x.jpg\ta\ty\n', r'bad.tsv: row 1: expected "path<TAB>labels"'),
    ('attr.csv', 'filename,neck\n,round\n', r'attr.csv: row 2: empty image path'),
])
def test_bad_rows_name_file_and_row(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    (tmp_path / 'label.txt').write_text('a\n')
    with pytest.raises(LabelFileError, match=message):
        read(str(tmp_path / name))


def test_attribute_value_not_in_train_values(tmp_path):
    (tmp_path / 'val.csv').write_text('filename,neck\nx.jpg,boat\n')
    train = read(os.path.join(FIXTURES, 'attributes.csv'), attribute_columns=['neck'])
    with pytest.raises(LabelFileError, match=r"val.csv: row 2: value 'boat' of attribute 'neck'"):
        read(str(tmp_path / 'val.csv'), schema=train.schema)


def test_sparse_targets_roundtrip_and_counts():
    rng = np.random.default_rng(0)
    d = rng.integers(-1, 2, size=(50, 7)).astype(np.int8)
    t = SparseTargets.from_dense(d)
    assert (t.dense() == d).all()
    assert all((t.row(i) == d[i]).all() for i in range(50))
    assert (t.subset([3, 1]).dense() == d[[3, 1]]).all()
    counts = t.class_counts()
    assert (counts[0] == (d == 1).sum(0)).all() and (counts[2] == (d == -1).sum(0)).all()


def test_simulate_partial_rps_and_fpc():
    rng = np.random.default_rng(1)
    d = (rng.random((4000, 5)) < 0.3).astype(np.int8)
    t = SparseTargets.from_dense(d)
    rps = simulate_partial(t, 'rps:0.5', seed=3).dense()
    assert (rps == simulate_partial(t, 'rps:0.5', seed=3).dense()).all()  # deterministic
    hidden = (rps == -1).mean()
    assert abs(hidden - 0.5) < 0.02
    assert ((rps == d) | (rps == -1)).all()  # never a flipped label
    fpc = simulate_partial(t, 'fpc:10', seed=3).dense()
    assert ((fpc == 1).sum(0) == 10).all() and ((fpc == 0).sum(0) == 10).all()
    assert ((fpc == d) | (fpc == -1)).all()
    with pytest.raises(ValueError, match='rps:P or fpc:N'):
        simulate_partial(t, 'drop:3')


def test_partial_label_mixup_keeps_unknowns_unknown():
    import torch
    from timm_ml.data import PartialLabelMixup
    np.random.seed(0)
    x = torch.randn(4, 3, 8, 8)
    y = torch.tensor([[1, 0, -1], [0, 1, 0], [1, 1, 0], [-1, 0, 1]]).float()
    mixup = PartialLabelMixup(mixup_alpha=1.0, label_smoothing=0., num_classes=3)
    x2, mixed = mixup(x.clone(), y)  # timm mixes in place
    known = (y >= 0) & (y.flip(0) >= 0)
    assert ((mixed == -1) == ~known).all()
    lam = float((x2[0] - x[3]).flatten()[0] / (x[0] - x[3]).flatten()[0])
    assert torch.allclose(mixed[known], (lam * y + (1 - lam) * y.flip(0))[known], atol=1e-5)


def test_label_list_na_cell_means_unannotated(tmp_path):
    f = tmp_path / 'train.csv'
    f.write_text('path,labels\na.jpg,cat\nb.jpg,#N/A\nc.jpg,\nd.jpg,dog\n')
    ls = read(str(f))
    assert ls.classes == ['cat', 'dog']
    assert dense(ls) == [[1, 0], [-1, -1], [0, 0], [0, 1]]


def test_non_utf8_label_file_names_the_file(tmp_path):
    path = tmp_path / 'train.csv'
    path.write_bytes('path,labels\na.png,caf\u00e9\n'.encode('latin-1'))
    with pytest.raises(LabelFileError, match=r'train\.csv: not UTF-8 text \(byte \d+'):
        read(str(path))


def test_attribute_column_without_any_known_value(tmp_path):
    path = tmp_path / 'attrs.csv'
    path.write_text('filename,neck,pattern\na.png,round,#N/A\nb.png,v,\nc.png,round,#N/A\n')
    with pytest.raises(LabelFileError, match=r"attribute columns \['pattern'\] have no known value"):
        read(str(path))


def test_missing_data_folder_is_named():
    with pytest.raises(ValueError, match='No dataset folder given'):
        read(None, 'train')


def test_one_hot_csv_is_read_as_multi_hot_not_as_attributes(tmp_path):
    path = tmp_path / 'train.csv'
    path.write_text('filename,cat,dog,car\na.png,1,0,0\nb.png,0,1,-1\nc.png,1,1,\n')
    ls = read(str(path))
    assert ls.format == 'multihot' and ls.classes == ['cat', 'dog', 'car'] and not ls.schema.groups
    assert ls.targets.dense().tolist() == [[1, 0, 0], [0, 1, -1], [1, 1, -1]]


def test_space_joined_cells_with_spaced_class_names_read_with_the_class_list(tmp_path):
    (tmp_path / 'train.csv').write_text('path,labels\na.png,Ankle boot Sandal\nb.png,Sandal Ankle boot Bag\n'
                                        'c.png,Bag\n')
    with pytest.raises(LabelFileError, match='--class-map'):  # without the list: refused, naming the fix
        read(str(tmp_path / 'train.csv'))
    ls = read(str(tmp_path / 'train.csv'), classes=['Ankle boot', 'Sandal', 'Bag'])
    assert dense(ls) == [[1, 1, 0], [1, 1, 1], [0, 0, 1]]
    with pytest.raises(LabelFileError, match=r'no single separator splits every cell.*--label-delimiter') as e:
        read(str(tmp_path / 'train.csv'), classes=['Ankle', 'Sandal', 'Bag'])  # 'boot' is no class
    assert '--class-map' not in str(e.value)  # the list was given: it does not advise giving it


def test_an_attribute_named_label_beside_other_attributes_is_an_attribute(tmp_path):
    (tmp_path / 'train.csv').write_text('filename,label,colour\na.png,shirt,red\nb.png,dress,blue\n')
    ls = read(str(tmp_path / 'train.csv'))
    assert ls.format == 'attributes' and [g.name for g in ls.schema.groups] == ['label', 'colour']
    (tmp_path / 'lists.csv').write_text('filename,labels,colour\na.png,"cat,dog",red\nb.png,cat,blue\n')
    with pytest.raises(LabelFileError, match=r"holds label lists, but the file has other columns \['colour'\]"):
        read(str(tmp_path / 'lists.csv'))
    (tmp_path / 'nih.csv').write_text('Image Index,Finding Labels,Patient Age\na.png,Edema|Mass,40\nb.png,Mass|Hernia,50\n')
    with pytest.raises(LabelFileError, match=r"pass --labels-column 'Finding Labels' to read"):  # pasted as one flag
        read(str(tmp_path / 'nih.csv'))


def test_a_label_spelled_like_an_unannotated_cell_is_refused(tmp_path):
    (tmp_path / 'train.csv').write_text('path,labels\na.png,cat|nan\nb.png,nan\n')
    with pytest.raises(LabelFileError, match=r"row 2: label 'nan' is spelled like an unannotated cell"):
        read(str(tmp_path / 'train.csv'))
    (tmp_path / 'c.json').write_text('{"classes": ["cat", ""], "images": []}')
    with pytest.raises(LabelFileError, match='non-empty string'):
        read(str(tmp_path / 'c.json'))


def test_a_tree_with_free_tags_and_unknowns_in_one_csv(tmp_path):
    (tmp_path / 'train.csv').write_text(
        'path,group,subgroup,tags\n'
        'a.png,Animals,mammal,cute|wild\n'
        'b.png,Animals,bird,\n'          # no tags: every tag negative
        'c.png,Food,fruit,#N/A\n'        # tags not annotated: unknown
        'd.png,#N/A,bird,wild\n'         # unknown parent, known child: the child implies Animals
        'e.png,Food,#N/A,cute\n')        # known parent, unknown child: that group unknown, the other n/a (0)
    ls = read(str(tmp_path / 'train.csv'), tree_columns=['group', 'subgroup'], labels_column='tags')
    s = ls.schema
    assert s.kind == 'hierarchical' and [g.key for g in s.groups] == [
        'group', 'subgroup[group=Animals]', 'subgroup[group=Food]']
    assert s.classes == ['group=Animals', 'group=Food', 'subgroup=bird', 'subgroup=mammal', 'subgroup=fruit', 'cute',
                         'wild']
    assert dense(ls) == [[1, 0, 0, 1, 0, 1, 1], [1, 0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 1, -1, -1],
                         [1, 0, 1, 0, 0, 0, 1], [0, 1, 0, 0, -1, 1, 0]]
    flat = read(str(tmp_path / 'train.csv'), attribute_columns=['group', 'subgroup'], labels_column='tags')
    assert flat.schema.kind == 'hierarchical' and not flat.schema.levels()  # two independent softmaxes + tags
    assert [g.key for g in flat.schema.groups] == ['group', 'subgroup']


def test_an_unnamed_column_is_named_as_a_pandas_index(tmp_path):
    (tmp_path / 'train.csv').write_text(',path,labels\n0,a.png,cat\n1,b.png,dog\n')
    with pytest.raises(LabelFileError, match=r'train\.csv: row 1: column 1 has no name .*index=False'):
        read(str(tmp_path / 'train.csv'))


def test_a_list_cell_that_is_not_a_list_of_names_is_named(tmp_path):
    (tmp_path / 'train.csv').write_text('path,labels\na.png,"[\'cat\', \'dog\']"\nb.png,"[cat, 3]"\n')
    with pytest.raises(LabelFileError, match=r"train\.csv: row 3: column 'labels': .* not a list of quoted"):
        read(str(tmp_path / 'train.csv'))


def test_simulate_partial_spec_errors_name_the_flag():
    from timm_ml.data import parse_partial_spec
    for spec in ('rps:abc', 'rps:', 'fpc:x', 'fpc:1.5'):
        with pytest.raises(ValueError, match=rf"--simulate-partial '{spec}': expects rps:P"):
            parse_partial_spec(spec)
    with pytest.raises(ValueError, match='needs 0 <= P <= 1'):
        parse_partial_spec('rps:2')


@pytest.mark.parametrize('rows', [5, 100])
def test_a_label_list_csv_of_any_length_is_read_as_label_lists(tmp_path, rows):
    """Regression: from 20 rows on, a label-list column of many combinations was taken for free-text metadata and the
    whole file refused ('every column looks like metadata')."""
    rng = np.random.default_rng(rows)
    names = ['cat', 'dog', 'car', 'tree', 'sky', 'person', 'boat', 'bus']
    lists = [sorted(rng.choice(names, size=rng.integers(1, 5), replace=False)) for _ in range(rows)]
    (tmp_path / 'train.csv').write_text('path,labels\n' + ''.join(f'i{i}.jpg,{"|".join(t)}\n'
                                                                  for i, t in enumerate(lists)))
    ls = read(str(tmp_path / 'train.csv'))
    assert ls.format == 'csv'
    assert [sorted(ls.classes[j] for j in np.flatnonzero(r == 1)) for r in ls.targets.dense()] == lists
