""" The feature cache: what it stores equals what the readers give (unknowns included), a stopped writer resumes to
the same arrays writing only what was missing, a cache is never mixed with other settings or written over a folder that
is not one, augmented views by epoch, and a head on cached features scores as the same model on images."""
import json
import os

import numpy as np
import pytest
import timm
from hypothesis import given, settings, strategies as st
import torch
from PIL import Image

from timm_ml.config import LabelsConfig
from timm_ml.data import LabelOptions, read_label_set
from timm_ml.data.feature_cache import FEATURES_FILE, FeatureDataset, cache_label_set, read_cache_info
from timm_ml.features import FeatureCacheSpec, write_feature_cache
from timm_ml.features.audit import out_of_fold_scores, rank_suspects
from timm_ml.models import create_ml_model, head_on_features, load_pretrained_file
from timm_ml.utils.outputs import OutputError


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """24 training and 8 val images with label lists, two training rows unannotated (#N/A), and backbone weights."""
    root = tmp_path_factory.mktemp('tiny')
    rng = np.random.default_rng(0)
    names = ['cat', 'dog', 'car']
    for split, n in (('train', 24), ('val', 8)):
        rows = []
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / f'{split}{i}.png')
            labels = '#N/A' if split == 'train' and i in (3, 7) else '|'.join(names[j] for j in range(3) if (i >> j) & 1
                                                                              ) or 'cat'
            rows.append(f'{split}{i}.png,"{labels}"')
        (root / f'{split}.csv').write_text('path,labels\n' + '\n'.join(rows) + '\n')
    torch.manual_seed(0)
    torch.save(timm.create_model('test_resnet', num_classes=0).state_dict(), root / 'backbone.pth')
    return root


def _write(tiny, out, **kw):
    spec = FeatureCacheSpec(model='test_resnet', pretrained_path=str(tiny / 'backbone.pth'), img_size=32,
                            splits=('train', 'validation'), shard_size=kw.pop('shard_size', 10), workers=0, **kw)
    return write_feature_cache(LabelsConfig(root=str(tiny)), spec, str(out), log=False)


def test_the_cache_holds_the_readers_targets_and_resumes_to_the_same_arrays(tiny, tmp_path):
    _write(tiny, tmp_path / 'a')
    for split in ('train', 'validation'):
        want = read_label_set(str(tiny), split, 'auto', LabelOptions(), log=False)
        got = cache_label_set(str(tmp_path / 'a'), split)
        assert got.paths == want.paths and got.classes == want.classes
        assert np.array_equal(got.targets.dense(), want.targets.dense())  # #N/A rows stay unknown (-1)
    assert (cache_label_set(str(tmp_path / 'a'), 'train').targets.dense()[[3, 7]] == -1).all()
    # stopped after two of the three training shards: the rerun writes the third only
    _write(tiny, tmp_path / 'b')
    info_path = tmp_path / 'b' / FEATURES_FILE
    info = json.load(open(info_path))
    info['splits']['train']['done'].remove('features-00002')
    info['splits']['train']['complete'] = False
    json.dump(info, open(info_path, 'w'))
    os.remove(tmp_path / 'b' / 'train' / 'features-00002.npy')
    with pytest.raises(Exception, match='unfinished'):
        read_cache_info(str(tmp_path / 'b'))
    kept = os.stat(tmp_path / 'b' / 'train' / 'features-00000.npy').st_mtime_ns
    _write(tiny, tmp_path / 'b')
    assert os.stat(tmp_path / 'b' / 'train' / 'features-00000.npy').st_mtime_ns == kept
    for shard in ('features-00000', 'features-00002'):
        assert np.array_equal(np.load(tmp_path / 'a' / 'train' / f'{shard}.npy'),
                              np.load(tmp_path / 'b' / 'train' / f'{shard}.npy'))


def test_a_cache_is_never_mixed_with_other_settings_nor_written_over_a_foreign_folder(tiny, tmp_path):
    _write(tiny, tmp_path / 'c')
    with pytest.raises(OutputError, match='a cache of other settings .*img_size: 32 there, 48 now'):
        write_feature_cache(LabelsConfig(root=str(tiny)), FeatureCacheSpec(
            model='test_resnet', pretrained_path=str(tiny / 'backbone.pth'), img_size=48, splits=('train',),
            shard_size=10, workers=0), str(tmp_path / 'c'), log=False)
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('mine')
    with pytest.raises(OutputError, match='not a feature cache'):
        _write(tiny, tmp_path / 'mine')
    assert os.listdir(tmp_path / 'mine') == ['notes.txt']


def test_training_reads_an_augmented_view_per_epoch(tiny, tmp_path):
    _write(tiny, tmp_path / 'v', views=2)
    labels = cache_label_set(str(tmp_path / 'v'), 'train')
    train, plain = FeatureDataset(str(tmp_path / 'v'), labels, is_training=True), FeatureDataset(
        str(tmp_path / 'v'), labels)
    seen = []
    for epoch in range(4):
        train.set_epoch(epoch)
        seen.append(train[5][0])
    assert torch.equal(seen[0], plain[5][0]) and torch.equal(seen[3], seen[0])  # epoch 3 = view 0 again
    assert not torch.equal(seen[1], seen[0]) and not torch.equal(seen[2], seen[1])


@pytest.mark.parametrize('head', ['linear', 'mldecoder'])
def test_a_head_on_cached_features_scores_as_the_model_on_images(tiny, tmp_path, head):
    _write(tiny, tmp_path / 'h')
    labels = cache_label_set(str(tmp_path / 'h'), 'validation')
    model = create_ml_model('test_resnet', labels.classes, head)
    load_pretrained_file(model if head == 'linear' else model.backbone.model, str(tmp_path / 'h' / 'backbone.pth'),
                         'test_resnet')
    model.eval()
    from timm.data import create_transform
    info = read_cache_info(str(tmp_path / 'h'))
    transform = create_transform(**info['data_config'])
    images = torch.stack([transform(Image.open(tiny / p).convert('RGB')) for p in labels.paths])
    with torch.no_grad():
        on_images = model(images)
        head_on_features(model)
        cached = FeatureDataset(str(tmp_path / 'h'), labels)
        on_cache = model(torch.stack([cached[i][0] for i in range(len(labels))]))
    assert torch.allclose(on_images, on_cache, atol=2e-2)  # the float16 cache
    assert all(not p.requires_grad for n, p in model.named_parameters() if 'head' not in n and 'fc' not in n)


def test_the_audit_ranks_injected_label_errors_first():
    """Separable features: the labels are a linear function of them, then 10% of positives are dropped and 5% false
    positives added (seeded); the out-of-fold heads put the injected entries at the top of each ranking."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    w = rng.normal(size=(16, 5))
    truth = (x @ w > 0.8).astype(np.int8)
    noisy = truth.copy()
    pos = np.argwhere(truth == 1)
    dropped = pos[rng.choice(len(pos), len(pos) // 10, replace=False)]
    noisy[dropped[:, 0], dropped[:, 1]] = 0
    neg = np.argwhere(truth == 0)
    added = neg[rng.choice(len(neg), len(pos) // 20, replace=False)]
    noisy[added[:, 0], added[:, 1]] = 1
    from timm_ml.features.audit import AuditSpec
    scores = out_of_fold_scores(torch.from_numpy(x), torch.from_numpy(noisy).float(), AuditSpec())
    ranked = rank_suspects(scores, noisy)
    hit = lambda found, injected: len({tuple(e) for e in found} & {tuple(e) for e in injected}) / len(injected)  # noqa
    assert hit(ranked['missing'][:len(dropped)], dropped) > 0.6
    assert hit(ranked['wrong'][:len(added)], added) > 0.6


def test_the_audit_does_not_saturate_on_a_rare_feature():
    """Pooled ReLU features have dimensions that are zero for nearly every image (std ~1e-3 over the split); scaled
    per dimension, the one image where such a dimension fires got z-scores in the thousands and a score of 1.0 on
    every class (all 87 classes of one emoji ranked as missing tags). One image firing a rare dimension must not
    outrank the real suspects."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    rare = np.zeros((400, 4), np.float32)
    rare[7, :] = 3.0  # one image, four dimensions that fire nowhere else
    x = np.concatenate([x, rare], 1)
    y = (x[:, :3] > 0.5).astype(np.float32)
    from timm_ml.features.audit import AuditSpec
    scores = out_of_fold_scores(torch.from_numpy(x), torch.from_numpy(y), AuditSpec(folds=4))
    assert np.isfinite(scores).all()
    assert scores[7][y[7] == 0].max() < 0.9


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12), st.integers(1, 6), st.integers(0, 10_000))
def test_the_audit_rankings_cover_every_entry_and_put_each_kind_top_first(n, c, seed):
    """Every non-positive entry is ranked once as missing (descending score), every positive once as wrong
    (ascending); the first image is one holding the top of a ranking; suspicion is a place in (0, 1]."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([-1, 0, 1], size=(n, c)).astype(np.int8)
    scores = rng.random((n, c)).astype(np.float32)
    ranked = rank_suspects(scores, labels)
    for kind, entries, sign in (('missing', labels != 1, -1), ('wrong', labels == 1, 1)):
        got = ranked[kind]
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, np.argwhere(entries).tolist()))
        assert np.all(np.diff(sign * scores[got[:, 0], got[:, 1]]) >= 0) if len(got) else True
    tops = {int(ranked[k][0][0]) for k in ('missing', 'wrong') if len(ranked[k])}
    assert int(ranked['images'][0]) in tops
    assert np.all((ranked['suspicion'] > 0) & (ranked['suspicion'] <= 1))
    assert sorted(ranked['images'].tolist()) == list(range(n))


@pytest.mark.slow
def test_cache_train_validate_search_and_audit_from_the_command_line(tiny, tmp_path):
    """The round trip a user runs: the cache, a head trained on it by train.py, validate.py on the images giving the
    run's own val mAP, a search table and an audit page."""
    from tests.helpers import run_script
    cache = str(tmp_path / 'cache')
    run_script(['-m', 'timm_ml.features', str(tiny), '--model', 'test_resnet', '--pretrained-path',  # a local file
                str(tiny / 'backbone.pth'), '--img-size', '32', '--out', cache, '--splits', 'train', 'validation',
                '-j', '0'])
    run_script(['train.py', '--features', cache, '-b', '8', '-j', '0', '--epochs', '3', '--warmup-epochs', '0',
                '--opt', 'adamw', '--lr', '1e-2', '--ml-head', 'mldecoder', '--mld-dim', '32', '--mld-ff', '64',
                '--output', str(tmp_path / 'out'), '--experiment', 'head'])
    import pandas as pd
    best = pd.read_csv(tmp_path / 'out' / 'head' / 'summary.csv').eval_map.max()
    proc = run_script(['validate.py', '--checkpoint', str(tmp_path / 'out' / 'head' / 'model_best.pth.tar'), '-j', '0'])
    on_images = float(proc.stdout.split('* mAP')[1].split()[0])
    assert abs(on_images - best) < 0.5, (on_images, best)  # the same model; the cache is float16
    bad = run_script(['train.py', '--features', cache, '--mixup', '0.5', '--output', str(tmp_path / 'out')],
                     check=False)
    assert bad.returncode == 2 and '--mixup act on images' in bad.stderr
    run_script(['-m', 'timm_ml.features.search', cache, '--out', str(tmp_path / 'search'), '--rows', 'bce-linear',
                '--lrs', '1e-2', '3e-2', '--epochs', '1', '--seeds', '0', '--test-split', 'validation',
                '--shared', '-b 8 --opt adamw --warmup-epochs 0'])
    table = (tmp_path / 'search' / 'table.md').read_text()
    runs = pd.read_csv(tmp_path / 'search' / 'search.csv')
    chosen = runs.loc[runs.val_map.idxmax()]
    assert len(runs) == 2 and f'| bce-linear | {chosen.lr:g} | {chosen.val_map:.2f}' in table  # chosen on val
    assert (tmp_path / 'search' / 'table.png').read_bytes()[:4] == b'\x89PNG'
    run_script(['-m', 'timm_ml.features.audit', cache, '--out', str(tmp_path / 'audit'), '--folds', '3',
                '--max-iter', '20'])
    audit = pd.read_csv(tmp_path / 'audit' / 'audit.csv')
    assert set(audit.kind) == {'missing', 'wrong'} and len(audit) == 24 * 3 and 'train0.png' in audit.path.values
