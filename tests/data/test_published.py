""" Published datasets as their owners ship them: each layout is read with no label flags, right (its data card equals
the fixture's truth), or refused with one error naming the flag; a misread that the values cannot mean stops the run.
The fixtures (tests/published.py) carry the published quirks."""
import os

import numpy as np
import pytest

from tests import published
from tests.helpers import run_script
from timm_ml.config import LabelsConfig
from timm_ml.data import LabelFileError, LabelOptions, create_label_sets, data_card, read_label_set


def _read(root, split, **options):
    return read_label_set(root, split, 'auto', LabelOptions(**options), log=False)


def _counts(dense):
    dense = np.asarray(dense)
    return [(dense == v).sum(0).tolist() for v in (1, 0, -1)]


def test_celeba_minus_one_is_a_negative_and_the_partition_is_the_split(tmp_path):
    root, classes, truth = published.celeba(str(tmp_path))
    for split in ('train', 'validation', 'test'):
        labels = _read(root, split)
        assert labels.format == 'celeba' and labels.classes == classes
        assert labels.targets.dense().tolist() == truth[split].tolist()  # -1 = does not have: 0, never unknown
    card = data_card([('train', _read(root, 'train'))])['splits'][0]
    assert [card['positives'], card['negatives'], card['unknown']] == _counts(truth['train'])
    assert 'does not have' in card['meanings']


def test_celeba_converted_to_a_csv_of_1_and_minus_1_stops_naming_the_value_map(tmp_path):
    """The silent misread: -1 read as unknown left no negative anywhere and val mAP 100."""
    root, classes, truth = published.celeba(str(tmp_path / 'c'))
    for split, values in (('train', truth['train']), ('val', truth['validation'])):
        lines = ['image,' + ','.join(classes)] + [f'{i}.jpg,' + ','.join('1' if v else '-1' for v in row)
                                                  for i, row in enumerate(values)]
        (tmp_path / f'{split}.csv').write_text('\n'.join(lines) + '\n')
    with pytest.raises(LabelFileError, match=r'classes have no known negative .*--value-map 1=pos,-1=neg'):
        create_label_sets(LabelsConfig(root=str(tmp_path), val_split='val'), log=False)
    train, _ = create_label_sets(LabelsConfig(root=str(tmp_path), val_split='val', value_map='1=pos,-1=neg'),
                                 log=False)
    assert train.targets.dense().tolist() == truth['train'].tolist()


@pytest.mark.parametrize('trailing_comma,kaggle', [(True, True), (False, False)])
def test_chestxray14_no_finding_is_all_negative_and_the_official_lists_split_by_patient(tmp_path, trailing_comma,
                                                                                        kaggle):
    root, findings, truth, test = published.chestxray14(str(tmp_path), trailing_comma=trailing_comma, kaggle=kaggle)
    train, val, tst = (_read(root, s) for s in ('train', 'validation', 'test'))
    assert train.classes == findings and 'No Finding' not in train.classes
    assert sorted(p.split('/')[-1] for p in tst.paths) == sorted(test)
    patients = [{p.split('/')[-1][:8] for p in s.paths} for s in (train, val, tst)]
    assert not (patients[0] & patients[1]) and not (patients[0] & patients[2]) and patients[1]  # patient-level
    assert len(train) + len(val) + len(tst) == len(truth)
    for labels in (train, val, tst):
        assert labels.targets.dense().tolist() == [truth[p.split('/')[-1]].tolist() for p in labels.paths]
    assert train.split.startswith('train (seeded')  # written beside the run as split.csv


def test_planet_names_without_extension_resolve_and_the_submission_template_is_never_a_split(tmp_path):
    root, tags, truth = published.planet(str(tmp_path))
    parts = [_read(root, s) for s in ('train', 'validation', 'test')]
    assert all(p.format == 'planet' for p in parts) and parts[0].classes == tags
    assert sorted(q for p in parts for q in p.paths) == sorted(truth)  # every labelled image once, none of test-jpg
    for p in parts:
        assert [sorted(p.classes[i] for i in np.flatnonzero(row == 1)) for row in p.targets.dense()] == \
            [truth[q] for q in p.paths]
    with pytest.raises(LabelFileError, match='a submission template .its name.'):
        _read(None, str(tmp_path / 'sample_submission_v2.csv'), label_delimiter=' ')
    renamed = tmp_path / 'holdout.csv'  # the same placeholders under another name: refused by its rows
    renamed.write_bytes((tmp_path / 'sample_submission_v2.csv').read_bytes())
    with pytest.raises(LabelFileError, match='every one of its 40 rows carries the same labels.*submission template'):
        _read(None, str(renamed), label_delimiter=' ')


def test_nuswide_backslash_paths_and_one_file_per_concept(tmp_path):
    root, concepts, truth = published.nuswide(str(tmp_path))
    train, val, tst = (_read(root, s) for s in ('train', 'validation', 'test'))
    assert train.format == 'nuswide' and train.classes == concepts
    assert {p for p in tst.paths} == {p for p, (part, _) in truth.items() if part == 'Test'}
    assert sorted(train.paths + val.paths) == sorted(p for p, (part, _) in truth.items() if part == 'Train')
    for labels in (train, val, tst):
        assert labels.targets.dense().tolist() == [truth[p][1].tolist() for p in labels.paths]


def test_visual_genome_top_names_normalised_and_split_by_seed(tmp_path):
    root, truth = published.visual_genome(str(tmp_path))
    parts = [_read(root, s, top_classes=4) for s in ('train', 'validation', 'test')]
    counts = {}
    for names in truth.values():
        for n in names:
            counts[n] = counts.get(n, 0) + 1
    top = [n for n, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4]]
    assert parts[0].classes == top and 'Trees' not in top and ' man ' not in top  # lower case, single spaces
    kept = [p for p, names in truth.items() if names & set(top)]
    assert sorted(q for p in parts for q in p.paths) == sorted(kept)
    for p in parts:
        assert [[int(c in truth[q]) for c in top] for q in p.paths] == p.targets.dense().tolist()


def test_a_hub_parquet_folder_is_a_data_root_with_its_splits_by_name(tmp_path):
    root, classes, truth = published.hf_parquet(str(tmp_path / 'hub'))
    train, val = create_label_sets(LabelsConfig(root=root), log=False)
    assert train.format == 'hf' and train.classes == classes
    for labels, split in ((train, 'train'), (val, 'validation')):
        expected = np.zeros((len(truth[split]), len(classes)), np.int8)
        for i, row in enumerate(truth[split]):
            expected[i, row] = 1
        assert labels.targets.dense().tolist() == expected.tolist()


def test_a_clinical_csv_trains_on_its_findings_only_and_reads_uncertain_as_declared(tmp_path, caplog):
    """The silent misread: sex, age and view trained as labels, every finding a 3-way softmax."""
    root, findings, truth = published.clinical_csv(str(tmp_path))
    labels = _read(root, 'train')
    assert labels.format == 'multihot' and labels.classes == findings  # Sex, Age, Frontal/Lateral, AP/PA left out
    read_as = dict(ignore={'1.0': 1, '0.0': 0, '-1.0': -1, '': -1}, positive={'1.0': 1, '0.0': 0, '-1.0': 1, '': -1},
                   negative={'1.0': 1, '0.0': 0, '-1.0': 0, '': -1})
    for uncertain, meaning in read_as.items():
        got = _read(root, 'train', uncertain=uncertain) if uncertain != 'ignore' else labels
        assert got.targets.dense().tolist() == [[meaning[c] for c in truth[p]] for p in got.paths]
    card = data_card([('train', labels)])['splits'][0]
    assert [card['positives'], card['negatives'], card['unknown']] == _counts(
        [[read_as['ignore'][c] for c in truth[p]] for p in labels.paths])
    assert 'uncertain' in card['meanings']


def test_deepfashion_reads_one_minus_one_zero_as_has_has_not_unknown(tmp_path):
    root, attrs, truth = published.deepfashion(str(tmp_path))
    for split in ('train', 'validation', 'test'):
        labels = _read(root, split)
        assert labels.format == 'deepfashion' and labels.classes == attrs  # names with spaces kept whole
        assert labels.targets.dense().tolist() == truth[split].tolist()
    assert 'unknown' in _read(root, 'train').meanings


def test_a_folder_per_class_is_one_softmax_and_a_label_file_beside_it_wins(tmp_path):
    root, classes, truth = published.image_folder(str(tmp_path))
    for split in ('train', 'validation'):
        labels = _read(root, split)
        assert labels.format == 'folder' and [g.values for g in labels.schema.groups] == [classes]
        assert labels.targets.dense().argmax(1).tolist() == truth['val' if split == 'validation' else split]
    (tmp_path / 'train.csv').write_text('path,labels\n' + ''.join(f'train/{c}/{c}_0.jpg,{c}\n' for c in classes))
    assert _read(root, 'train').format == 'csv'


def test_kaggle_ids_find_their_images_and_a_submission_template_is_never_a_split(tmp_path):
    root, classes, truth = published.kaggle_ids(str(tmp_path))
    labels = _read(root, 'train')
    assert labels.classes == classes and {p: r for p, r in zip(labels.paths, labels.targets.dense().tolist())} == truth
    assert labels.root.endswith('images')
    os.rename(tmp_path / 'images', tmp_path / 'train_images')  # Plant Pathology 2021's folder name
    assert _read(root, 'train').root.endswith('train_images')
    with pytest.raises(LabelFileError) as e:
        _read(root, 'validation', )
    message = str(e.value)
    assert 'sample_submission.csv: a submission template (no labels): never a split' in message
    assert '--val-split train' not in message  # validating on the training images is no advice
    with pytest.raises(LabelFileError, match='a submission template .* never a split'):
        _read(root, str(tmp_path / 'sample_submission.csv'))  # named on the command line: refused all the same


def test_space_separated_class_ids_are_a_label_list_never_attribute_values(tmp_path):
    """Human Protein Atlas: Id,Target with '25 0': read as one attribute it trains each combination as a class."""
    rng = np.random.default_rng(1)
    rows = [' '.join(map(str, sorted(rng.choice(28, size=rng.integers(1, 4), replace=False)))) for _ in range(40)]
    (tmp_path / 'train.csv').write_text('Id,Target\n' + ''.join(f'img{i}.png,{r}\n' for i, r in enumerate(rows)))
    with pytest.raises(LabelFileError, match=r"--labels-column Target --label-delimiter ' ' to read it as labels"):
        _read(str(tmp_path), 'train')
    labels = _read(str(tmp_path), 'train', labels_column='Target', label_delimiter=' ')
    assert sorted(labels.classes, key=int) == sorted({t for r in rows for t in r.split()}, key=int)
    assert [sorted(labels.classes[j] for j in np.flatnonzero(row == 1)) for row in labels.targets.dense()] == \
        [sorted(r.split()) for r in rows]
    # values made of words, such as colours, stay attribute values
    colours = ['blue', 'light blue', 'dark blue', 'green', 'light green', 'dark green', 'red'] * 6
    (tmp_path / 'c.csv').write_text('path,colour\n' + ''.join(f'i{i}.png,{c}\n' for i, c in enumerate(colours)))
    assert _read(str(tmp_path), str(tmp_path / 'c.csv')).format == 'attributes'


def test_every_reason_in_the_no_labels_listing_is_whole(tmp_path):
    long_names = ','.join(f'column_with_a_long_name_{i}' for i in range(8))
    (tmp_path / 'full_df.csv').write_text(f'path,labels,{long_names}\n' + ''.join(
        f'i{i}.png,"a,b",' + ','.join('x' for _ in range(8)) + '\n' for i in range(3)))
    with pytest.raises(LabelFileError) as e:
        _read(str(tmp_path), 'train')
    assert "or --label-format attributes to read every column as one attribute" in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize('layout', ['celeba', 'chestxray14', 'planet', 'nuswide', 'vg', 'hf', 'clinical', 'deepfashion',
                                    'folder'])
def test_each_published_layout_trains_validates_and_infers_with_no_label_flags(tmp_path, layout):
    maker = dict(celeba=published.celeba, chestxray14=published.chestxray14, planet=published.planet,
                 nuswide=published.nuswide, vg=published.visual_genome, hf=published.hf_parquet,
                 clinical=published.clinical_csv, deepfashion=published.deepfashion,
                 folder=published.image_folder)[layout]
    root = maker(str(tmp_path / 'data'))[0]
    flags = ['--model', 'test_resnet', '--input-size', '3', '16', '16', '-b', '8', '-j', '0', '--epochs', '1',
             '--warmup-epochs', '0', '--opt', 'adamw', '--lr', '3e-3']
    run_script(['train.py', root, *flags, '--output', str(tmp_path / 'out'), '--experiment', 'run'])
    ck = str(tmp_path / 'out' / 'run' / 'model_best.pth.tar')
    proc = run_script(['validate.py', '--checkpoint', ck, '-j', '0', '-b', '8'])
    assert ('* acc' if layout == 'folder' else '* mAP') in proc.stdout and 'data card, evaluated' in proc.stderr
    card = (tmp_path / 'out' / 'run' / 'data_card.json').read_text()
    assert '"split": "train"' in card
    if layout in ('celeba', 'chestxray14', 'folder'):  # infer on images as published (the rest share its path)
        out = tmp_path / 'p.csv'
        run_script(['infer.py', root if layout not in ('celeba',) else root + '/celeba/img_align_celeba',
                    '--checkpoint', ck, '--output', str(out), '-j', '0'])
        assert out.read_text().startswith('path,labels,top3')
