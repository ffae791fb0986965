""" A feature cache, a search folder and a teacher are files someone else may have written or edited: each finding of
a hostile trial of them is a case here (the cache rerun on other images, a swapped backbone, damaged or edited
shards, paths leading out of the image root, a search writing outside its folder or reusing runs of another cache,
a teacher with NaN weights)."""
import json
import os
import shutil

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from timm_ml.config import LabelsConfig
from timm_ml.data.feature_cache import (FEATURES_FILE, FeatureCacheError, FeatureDataset, cache_identity,
                                       cache_label_set, check_backbone_file, read_cache_info)
from timm_ml.features import FeatureCacheSpec, write_feature_cache
from timm_ml.features.search import SearchError, check_flags, prepare_out, row_flags
from timm_ml.models.teacher import check_teacher_finite
from timm_ml.utils.checkpoint_io import CheckpointError
from timm_ml.utils.outputs import OutputError


def _data(root, reverse=False, invert=False):
    rng = np.random.default_rng(0)
    root.mkdir(exist_ok=True)
    for split, n in (('train', 12), ('val', 4)):
        rows = []
        for i in range(n):
            pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(255 - pixels if invert else pixels).save(root / f'{split}{i}.png')
            rows.append(f'{split}{i}.png,{"cat" if i % 2 else "dog"}')
        (root / f'{split}.csv').write_text('path,labels\n' + '\n'.join(rows[::-1] if reverse else rows) + '\n')
    return root


@pytest.fixture(scope='module')
def made(tmp_path_factory):
    base = tmp_path_factory.mktemp('boundary')
    data = _data(base / 'data')
    torch.manual_seed(0)
    torch.save(timm.create_model('test_resnet', num_classes=0).state_dict(), base / 'w.pth')
    _write(data, base / 'w.pth', base / 'cache')
    return base


def _write(data, weights, out, shard_size=5):
    spec = FeatureCacheSpec(model='test_resnet', pretrained_path=str(weights), img_size=32,
                            splits=('train', 'validation'), shard_size=shard_size, workers=0)
    return write_feature_cache(LabelsConfig(root=str(data)), spec, str(out), log=False)


def _copy(made, tmp_path):
    shutil.copytree(made / 'cache', tmp_path / 'cache')
    return tmp_path / 'cache'


def test_a_rerun_on_other_images_is_refused_not_paired_with_the_old_features(made, tmp_path):
    cache = _copy(made, tmp_path)
    before = (cache / 'train' / 'targets.npy').read_bytes()
    with pytest.raises(OutputError, match='train features were made from other images'):
        _write(_data(tmp_path / 'reversed', reverse=True), made / 'w.pth', cache)  # same names, other order
    with pytest.raises(OutputError, match='other images'):
        _write(_data(tmp_path / 'other', invert=True), made / 'w.pth', cache)  # same names, another root
    assert (cache / 'train' / 'targets.npy').read_bytes() == before
    _write(made / 'data', made / 'w.pth', cache)  # the same data resumes (nothing to do)


def test_a_swapped_backbone_file_is_refused(made, tmp_path):
    cache = _copy(made, tmp_path)
    info = read_cache_info(str(cache))
    check_backbone_file(str(cache), info)
    torch.manual_seed(5)
    torch.save(timm.create_model('test_resnet', num_classes=0).state_dict(), cache / 'backbone.pth')
    with pytest.raises(FeatureCacheError, match='not the backbone that made these features'):
        check_backbone_file(str(cache), info)
    (cache / 'backbone.pth').write_bytes(b'garbage')
    with pytest.raises(FeatureCacheError, match='unreadable'):
        check_backbone_file(str(cache), info)


def test_a_rebuilt_cache_has_another_identity(made, tmp_path):
    """The search keys its finished runs on the cache's identity: a cache rebuilt at the same path with other weights
    or other labels is not scored by the old heads."""
    first = cache_identity(str(made / 'cache'))
    torch.manual_seed(5)
    torch.save(timm.create_model('test_resnet', num_classes=0).state_dict(), tmp_path / 'w5.pth')
    _write(made / 'data', tmp_path / 'w5.pth', tmp_path / 'c5')
    assert cache_identity(str(tmp_path / 'c5')) != first
    data = _data(tmp_path / 'data')
    _write(data, made / 'w.pth', tmp_path / 'c6')
    before = cache_identity(str(tmp_path / 'c6'))
    (data / 'train.csv').write_text((data / 'train.csv').read_text().replace(',cat', ',dog|cat', 1))  # relabelled
    _write(data, made / 'w.pth', tmp_path / 'c6')  # same images: the features are kept, the targets rewritten
    after = cache_identity(str(tmp_path / 'c6'))
    assert after['splits']['train'][1] != before['splits']['train'][1]
    assert after['splits']['train'][0] == before['splits']['train'][0]


@pytest.mark.parametrize('damage, match', [
    ('truncate', 'unreadable shard'), ('rows', r'declares float16 \(5,'), ('channels', 'declares'),
    ('float32', 'declares float16'), ('nan', 'NaN or infinite'), ('symlink', 'symbolic link')])
def test_damaged_or_edited_shards_are_named(made, tmp_path, damage, match):
    cache = _copy(made, tmp_path)
    shard = cache / 'train' / 'features-00000.npy'
    array = np.load(shard)
    if damage == 'truncate':
        shard.write_bytes(shard.read_bytes()[:-100])
    elif damage == 'rows':
        np.save(shard, array[:3])
    elif damage == 'channels':
        np.save(shard, array[:, :2])
    elif damage == 'float32':
        np.save(shard, array.astype(np.float32))
    elif damage == 'nan':
        array = array.copy()
        array[1, 0] = np.nan
        np.save(shard, array)
    else:
        np.save(tmp_path / 'elsewhere.npy', array)
        os.remove(shard)
        os.symlink(tmp_path / 'elsewhere.npy', shard)
    dataset = FeatureDataset(str(cache), cache_label_set(str(cache), 'train'))
    with pytest.raises(FeatureCacheError, match=match):
        dataset[0]
    assert len(dataset[7][0])  # the other shard still reads


def test_paths_leading_out_of_the_image_root_are_refused(made, tmp_path):
    cache = _copy(made, tmp_path)
    paths = json.loads((cache / 'train' / 'paths.json').read_text())
    for bad in ('/etc/hostname', '../../private.png'):
        (cache / 'train' / 'paths.json').write_text(json.dumps([bad] + paths[1:]))
        with pytest.raises(FeatureCacheError, match='outside its root'):
            cache_label_set(str(cache), 'train')
        assert cache_label_set(str(cache), 'train', allow_outside_root=True).paths[0] == bad
    (cache / 'train' / 'paths.json').write_text(json.dumps([7] + paths[1:]))
    with pytest.raises(FeatureCacheError, match='not a path'):
        cache_label_set(str(cache), 'train')


def test_the_writer_never_writes_through_a_symlinked_split_or_onto_a_file(made, tmp_path):
    cache = _copy(made, tmp_path)
    victim = tmp_path / 'victim'
    victim.mkdir()
    (victim / 'paths.json').write_text('mine')
    shutil.rmtree(cache / 'validation')
    os.symlink(victim, cache / 'validation')
    info = json.loads((cache / FEATURES_FILE).read_text())
    info['splits']['validation'].update(complete=False, done=[])
    (cache / FEATURES_FILE).write_text(json.dumps(info))
    with pytest.raises(OutputError, match='symbolic link'):
        _write(made / 'data', made / 'w.pth', cache)
    assert (victim / 'paths.json').read_text() == 'mine'
    (tmp_path / 'afile').write_text('mine')
    with pytest.raises(OutputError, match='is a file'):
        _write(made / 'data', made / 'w.pth', tmp_path / 'afile')


def test_search_rows_and_shared_flags_stay_inside_the_search(tmp_path):
    for row in ('../../esc=--ml-head linear', '/tmp/abs=--ml-head linear', 'a b=--ml-head linear', 'nope'):
        with pytest.raises(SearchError):
            row_flags(row)
    assert row_flags('mine.v2=--ml-head linear --loss asl') == ('mine.v2', ['--ml-head', 'linear', '--loss', 'asl'])
    for flags in (['--features', 'other'], ['--feat', 'other'], ['--output=/x'], ['--resume', 'r'], ['--lr', '1']):
        with pytest.raises(SearchError, match='refused'):
            check_flags(['-b', '4'] + flags, '--shared')
    check_flags(['-b', '4', '--simulate-partial', 'rps:0.5', '--label-embeddings', '/data/emb.npy'], '--shared')


def test_the_search_folder_is_never_a_symlink_or_someone_elses(tmp_path):
    (tmp_path / 'victim').mkdir()
    os.symlink(tmp_path / 'victim', tmp_path / 'link')
    with pytest.raises(OutputError, match='symbolic link'):
        prepare_out(str(tmp_path / 'link'), 'cache')
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'table.md').write_text('my notes')
    with pytest.raises(OutputError, match='not a search of ours'):
        prepare_out(str(tmp_path / 'mine'), 'cache')
    assert (tmp_path / 'mine' / 'table.md').read_text() == 'my notes'
    prepare_out(str(tmp_path / 'new'), 'cache')
    (tmp_path / 'new' / 'table.md').write_text('an earlier table')
    prepare_out(str(tmp_path / 'new'), 'cache')  # our own folder is resumed


def test_a_teacher_with_nan_weights_is_refused():
    model = timm.create_model('test_resnet', num_classes=3)
    check_teacher_finite(model, 't.pth')
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() > 1)[0, 0] = float('nan')
    with pytest.raises(CheckpointError, match='NaN or infinite'):
        check_teacher_finite(model, 't.pth')
