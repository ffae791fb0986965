import json
import os

import numpy as np
import pandas as pd
import pytest

from tests.helpers import FIXTURES, read, run_script
from fashion_attrs.garments import DISPLAY_NAMES, build_garments
from fashion_attrs.products import convert_products
from fashion_attrs.report import balance_report
from fashion_attrs.split import split_attribute_csv
from timm_ml.data import WeightedEpochSampler, rarity_weights


ATTRS = ['neck', 'sleeve_length', 'pattern']


@pytest.fixture(scope='module')
def garments(tmp_path_factory):
    out = tmp_path_factory.mktemp('garments')
    build_garments(str(out), count=1500, seed=0)
    split_attribute_csv(str(out / 'attributes.csv'), str(out), val=0.2, test=0.1, seed=0)
    return str(out)


def test_garment_attributes_read_as_is(garments):
    ls = read(os.path.join(garments, 'attributes.csv'))
    assert [g.name for g in ls.schema.groups] == ATTRS
    assert [len(g.values) for g in ls.schema.groups] == [7, 4, 10]
    raw = pd.read_csv(os.path.join(garments, 'attributes.csv'), keep_default_na=False)
    dense = ls.targets.dense()
    for g in ls.schema.groups:
        na = (raw[g.name] == '#N/A').to_numpy()
        assert na.any() and (dense[na, g.start:g.end] == -1).all()
        assert (dense[~na, g.start:g.end].sum(1) == 1).all()
        # the stored value is the cell's value
        picked = np.array(g.values)[dense[~na, g.start:g.end].argmax(1)]
        assert (picked == raw[g.name].to_numpy()[~na]).all()


def test_split_is_disjoint_complete_and_stratified(garments):
    frames = {s: pd.read_csv(os.path.join(garments, f'{s}.csv'), keep_default_na=False) for s in ('train', 'val', 'test')}
    paths = [p for f in frames.values() for p in f.filename]
    assert len(paths) == len(set(paths)) == 1500
    assert all(os.path.isfile(os.path.join(garments, p)) for p in frames['val'].filename[:20])
    everything = pd.concat(frames.values())
    for attr in ATTRS:
        overall = everything[attr].value_counts(normalize=True)
        val = frames['val'][attr].value_counts(normalize=True).reindex(overall.index, fill_value=0)
        assert (val - overall).abs().max() < 0.05, attr
    # same seed, same split
    again = split_attribute_csv(os.path.join(garments, 'attributes.csv'), os.path.join(garments, 'again'), 0.2, 0.1, 0)
    assert sorted(pd.read_csv(again['val']).filename) == sorted('../' + frames['val'].filename)  # relative paths


def test_split_rejects_duplicate_paths(tmp_path):
    (tmp_path / 'a.csv').write_text('filename,neck\nx.png,round\nx.png,v-neck\n')
    with pytest.raises(ValueError, match="duplicate image paths \\['x.png'\\]"):
        split_attribute_csv(str(tmp_path / 'a.csv'), str(tmp_path / 'out'))


@pytest.mark.slow
def test_attribute_heads_beat_majority_baseline_with_balanced_sampler(garments, tmp_path):
    run_script(['train.py', garments, '--ml-head', 'attributes', '--model', 'test_resnet', '--input-size', '3', '56',
                '56', '-b', '64', '--epochs', '5', '--opt', 'adamw', '--lr', '6e-3', '--weight-decay', '1e-4',
                '--warmup-epochs', '1', '--scale', '0.85', '1', '--ratio', '1', '1', '--hflip', '0', '-j', '0',
                '--sampler', 'balanced', '--output', str(tmp_path), '--experiment', 'g'])
    ck = str(tmp_path / 'g' / 'model_best.pth.tar')
    proc = run_script(['validate.py', garments, '--checkpoint', ck, '-j', '0', '--results-file', str(tmp_path / 'r.json')])
    result = json.load(open(tmp_path / 'r.json'))
    val = pd.read_csv(os.path.join(garments, 'val.csv'), keep_default_na=False)
    for attr in ATTRS:
        known = val[attr][val[attr] != '#N/A']
        majority = 100 * known.value_counts(normalize=True).iloc[0]
        assert result['groups'][attr]['acc'] > majority + 15, (attr, result['groups'][attr], majority)
        assert result['groups'][attr]['known'] == len(known)
        assert f'  {attr}: acc ' in proc.stdout
    assert result['map'] > 50  # 21-class mAP with unknowns masked

    names = [f'{k}={v}' for k, v in DISPLAY_NAMES.items()]
    run_script(['infer.py', os.path.join(garments, 'test.csv'), '--checkpoint', ck, '--output',
                str(tmp_path / 'p.csv'), '-j', '0', '--column-names', *names])
    preds = pd.read_csv(tmp_path / 'p.csv', keep_default_na=False)
    test = pd.read_csv(os.path.join(garments, 'test.csv'), keep_default_na=False)
    assert 'Predicted Neck Type' in preds.columns and 'Score Pattern Type' in preds.columns
    assert list(preds.path) == list(test.filename)
    known = test.pattern != '#N/A'
    assert (preds['Predicted Pattern Type'][known] == test.pattern[known]).mean() > 0.5


@pytest.mark.slow
def test_sigmoid_partial_loss_variant_on_attributes(garments, tmp_path):
    run_script(['train.py', garments, '--ml-head', 'linear', '--loss', 'csl', '--partial-loss-mode', 'ignore',
                '--loss-reduction', 'batchmean', '--model', 'test_resnet', '--input-size', '3', '56', '56', '-b', '64',
                '--epochs', '3', '--opt', 'adamw', '--lr', '6e-3', '--warmup-epochs', '0', '--hflip', '0', '-j', '0',
                '--output', str(tmp_path), '--experiment', 's'])
    summary = pd.read_csv(tmp_path / 's' / 'summary.csv')
    assert summary.eval_map.iloc[-1] > summary.eval_map.iloc[0] + 5


def test_styles_csv_extra_commas_and_rare_classes(tmp_path):
    out = str(tmp_path / 'products.csv')
    report = convert_products(os.path.join(FIXTURES, 'styles.csv'), out, min_count=2, rare='fold')
    assert report['stats'] == {'repaired_extra_commas': 1, 'skipped_too_few_fields': 1, 'kept': 12}
    assert report['rare']['articleType'] == {'Heels': 1, 'Jeans': 1, 'Socks': 1, 'Track Pants': 1, 'Watches': 1}
    ls = read(out)
    assert [g.name for g in ls.schema.groups] == ['gender', 'articleType', 'baseColour']
    assert ls.schema.groups[1].values == ['Other', 'Shirts', 'Tshirts']
    assert ls.paths[10] == 'images/12345.jpg'  # the row with commas in its name is kept whole
    assert ls.targets.row(11)[-len(ls.schema.groups[2].values):].tolist() == [-1] * len(ls.schema.groups[2].values)
    dropped = convert_products(os.path.join(FIXTURES, 'styles.csv'), out, min_count=2, rare='drop')
    assert 'Other' not in read(out).classes and dropped['rare']['baseColour']['Silver'] == 1


def test_styles_images_folder_skips_missing(tmp_path):
    (tmp_path / 'images').mkdir()
    for pid in (15970, 39386):
        (tmp_path / 'images' / f'{pid}.jpg').write_bytes(b'x')
    report = convert_products(os.path.join(FIXTURES, 'styles.csv'), str(tmp_path / 'p.csv'),
                              images_dir=str(tmp_path / 'images'))
    assert report['stats']['kept'] == 2 and report['stats']['skipped_missing_image'] == 10


def test_image_path_gender_article_color_csv(tmp_path):
    out = str(tmp_path / 'p.csv')
    report = convert_products(os.path.join(FIXTURES, 'products.csv'), out)
    assert report['stats'] == {'skipped_wrong_field_count': 1, 'kept': 3}
    ls = read(out)
    assert [g.name for g in ls.schema.groups] == ['gender', 'article', 'color']


def test_balance_report_and_sampler_flatten_distribution(garments, tmp_path):
    train = os.path.join(garments, 'train.csv')
    r = balance_report(train, str(tmp_path), sampler_cap=10)
    assert os.path.getsize(r['png']) > 10000
    counts = pd.read_csv(tmp_path / 'class_counts.csv')
    na = pd.read_csv(tmp_path / 'na_rate.csv')
    assert list(na.attribute) == ATTRS and (na.na_rate > 0).all()
    assert len(pd.read_csv(tmp_path / 'rare_cooccurrence.csv')) > 0
    for attr in ('neck', 'pattern'):
        c = counts[counts.attribute == attr]
        ratio = lambda col: c[col].max() / c[col].min()  # noqa: E731
        assert ratio('seen_per_epoch_balanced') < 0.6 * ratio('seen_per_epoch_uniform'), attr
    # the sampler draws what the report predicts
    ls = read(train)
    weights = rarity_weights(ls.targets, cap=10)
    sampler = WeightedEpochSampler(weights, num_samples=200000, seed=0)
    drawn = np.bincount(list(sampler), minlength=len(ls))
    dense = ls.targets.dense()
    seen = ((dense == 1) * drawn[:, None]).sum(0) / drawn.sum() * len(ls)
    expected = counts.seen_per_epoch_balanced.to_numpy()
    assert np.abs(seen - expected).max() / expected.max() < 0.02
    sampler.set_epoch(1)
    assert list(sampler)[:50] != list(WeightedEpochSampler(weights, num_samples=200000, seed=0))[:50]
