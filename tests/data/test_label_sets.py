""" create_label_sets: train defines the classes, val must hold them; partial-label simulation refusals."""
import pytest

from tests.helpers import read
from timm_ml.config import LabelsConfig
from timm_ml.data import LabelFileError, create_label_sets


def _namespace(root, **kw):
    return LabelsConfig(**dict(dict(root=root, val_split='val', seed=0), **kw))


def test_train_and_val_with_different_classes_stop_before_training(mosaic_data):
    with pytest.raises(ValueError, match=r'val_attributes.csv \(attributes\) does not hold the classes of .*train.json'):
        create_label_sets(_namespace(mosaic_data, val_split='val_attributes'), log=False)


def test_nothing_left_to_train_on_and_partial_simulation_of_attributes(mosaic_data):
    with pytest.raises(ValueError, match=r'no known annotation left .*--simulate-partial rps:1.0'):
        create_label_sets(_namespace(mosaic_data, simulate_partial='rps:1.0'), log=False)
    with pytest.raises(ValueError, match='--simulate-partial hides single class entries'):
        create_label_sets(_namespace(mosaic_data, train_split='train_attributes', val_split='val_attributes',
                                     simulate_partial='rps:0.5'), log=False)


def test_empty_label_file_is_an_error(tmp_path):
    (tmp_path / 'train.csv').write_text('path,labels\n')
    with pytest.raises(LabelFileError, match='train.csv: no images'):
        read(str(tmp_path / 'train.csv'))


def test_a_validation_split_with_nothing_known_is_an_error_not_a_zero(tmp_path):
    (tmp_path / 'train.csv').write_text('path,labels\na.png,cat\nb.png,dog\n')
    (tmp_path / 'val.csv').write_text('path,labels\nc.png,#N/A\nd.png,\n')
    with pytest.raises(LabelFileError, match='val.csv: no known positive in the validation split'):
        create_label_sets(_namespace(str(tmp_path)), log=False)


def test_a_class_map_on_attribute_data_is_refused(tmp_path):
    (tmp_path / 'train.csv').write_text('filename,neck,sleeve\na.png,round,long\nb.png,v,short\n')
    (tmp_path / 'classes.txt').write_text('sleeve=long\nneck=round\n')
    with pytest.raises(LabelFileError, match=r'--class-map .*classes.txt: .*train.csv holds exclusive groups'):
        create_label_sets(_namespace(str(tmp_path), val_split=None, class_map=str(tmp_path / 'classes.txt')),
                          log=False)


def test_a_training_image_dir_is_reused_on_its_own_root_only(tmp_path):
    """An absolute --image-dir belongs to the data root it was given with: validate / infer on another root must not
    read the old images under the new labels."""
    from timm_ml.data.label_sets import saved_for_root
    saved = dict(root=str(tmp_path / 'old'), image_dir=str(tmp_path / 'old_images'), label_delimiter=';')
    assert saved_for_root(saved, str(tmp_path / 'old'))['image_dir'] == str(tmp_path / 'old_images')
    assert saved_for_root(saved, str(tmp_path / 'old' / 'annotations'))['image_dir'] == str(tmp_path / 'old_images')
    moved = saved_for_root(saved, str(tmp_path / 'new'), log=False)
    assert moved['image_dir'] is None and moved['label_delimiter'] == ';'  # the parsing options still apply
    given = saved_for_root(saved, str(tmp_path / 'new'), image_dir_given=True)
    assert given['image_dir'] == str(tmp_path / 'old_images')  # --image-dir given again wins (LabelsConfig.with_saved)
    assert LabelsConfig(image_dir='x').with_saved(given).image_dir == 'x'


def test_data_record_stores_the_image_dir_absolute(tmp_path, monkeypatch):
    from timm_ml.data import data_record
    (tmp_path / 'train.csv').write_text('path,labels\na.png,cat\nb.png,dog\n')
    (tmp_path / 'imgs').mkdir()
    monkeypatch.chdir(tmp_path)
    train = read(str(tmp_path / 'train.csv'))
    record = data_record(_namespace(str(tmp_path), image_dir='imgs'), train, None)
    assert record['image_dir'] == str(tmp_path / 'imgs')
