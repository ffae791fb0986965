""" Adversarial inputs and faults: each case pins a clear error naming the file / row / flag, or a counted skip where
the user asked for one. Never a silent wrong label, never a lost epoch. (Table in README, "When things go wrong".)"""
import datetime
import errno
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image

from tests.helpers import TINY, run_script, read
from timm_ml.data import BadImageError, LabelFileError, MultiLabelDataset, create_label_set
from timm_ml.metrics import compute_multilabel_metrics
from timm_ml.models import create_ml_model
from timm_ml.plot import read_summary
from timm_ml.utils import load_checkpoint_file
from timm_ml.utils import MultiLabelCheckpointSaver


# ---- label files

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
        create_label_set(None, 'train')


# ---- images

def _images(tmp_path, extra):
    """Three good PNGs plus bad files: {name: bytes or None (missing)}."""
    from timm_ml.data import SparseTargets
    from timm_ml.data import LabelSet
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
    return LabelSet(['a', 'b'], names, targets, str(tmp_path), source=str(tmp_path / 'val.json'))


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


# ---- checkpoints

def test_empty_garbage_and_code_carrying_checkpoints_are_refused(tmp_path):
    (tmp_path / 'zero.pth.tar').write_bytes(b'')
    with pytest.raises(ValueError, match=r'zero\.pth\.tar is empty \(0 bytes\)'):
        load_checkpoint_file(str(tmp_path / 'zero.pth.tar'))
    (tmp_path / 'junk.pth.tar').write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match=r'Cannot read checkpoint .*junk\.pth\.tar'):
        load_checkpoint_file(str(tmp_path / 'junk.pth.tar'))
    torch.save({'state_dict': {}, 'payload': datetime.datetime(2020, 1, 1)}, tmp_path / 'obj.pth.tar')
    with pytest.raises(ValueError, match=r'Refused to load .*obj\.pth\.tar'):
        load_checkpoint_file(str(tmp_path / 'obj.pth.tar'))


def test_validate_folder_skips_temp_files(tmp_path):
    from validate import list_checkpoints
    for name in ('last.pth.tar', 'tmp.pth.tar', 'model_best.pth.tar.tmp', 'checkpoint-0.pth.tar'):
        (tmp_path / name).write_bytes(b'x')
    assert [os.path.basename(p) for p in list_checkpoints(str(tmp_path))] == ['checkpoint-0.pth.tar', 'last.pth.tar']


def test_pretrained_path_for_another_architecture_is_an_error(tmp_path):
    torch.save(timm.create_model('test_resnet').state_dict(), tmp_path / 'resnet.pth')
    with pytest.raises(ValueError, match=r'only 1 of the 86 backbone tensors of test_efficientnet match.*'
                                         r'python -m timm_ml\.models\.convert'):
        create_ml_model('test_efficientnet', ['a', 'b'], pretrained_path=str(tmp_path / 'resnet.pth'))
    loaded = create_ml_model('test_resnet', ['a', 'b'], pretrained_path=str(tmp_path / 'resnet.pth'))
    source = torch.load(tmp_path / 'resnet.pth')
    assert torch.equal(loaded.conv1[0].weight, source['conv1.0.weight']) and loaded.fc.weight.shape == (2, 96)


def test_full_disk_names_the_folder_and_leaves_no_partial_file(tmp_path, monkeypatch):
    model = create_ml_model('test_resnet', ['a', 'b'])
    saver = MultiLabelCheckpointSaver(model, torch.optim.SGD(model.parameters(), lr=0.1), checkpoint_dir=str(tmp_path),
                                      recovery_dir=str(tmp_path))
    saver.save_checkpoint(0, metric=1.)
    before = load_checkpoint_file(str(tmp_path / 'last.pth.tar'))['epoch']

    def short_write(obj, path, *a, **k):
        with open(path, 'wb') as f:
            f.write(b'PK\x03\x04partial')
        raise RuntimeError('[enforce fail at inline_container.cc:626] . unexpected pos 1472 vs 1366')
    monkeypatch.setattr(torch, 'save', short_write)
    with pytest.raises(OSError, match=f'No space left on the device holding {tmp_path} while writing tmp.pth.tar') \
            as e:
        saver.save_checkpoint(1, metric=2.)
    assert e.value.errno == errno.ENOSPC
    assert not os.path.exists(tmp_path / 'tmp.pth.tar')
    monkeypatch.undo()
    assert load_checkpoint_file(str(tmp_path / 'last.pth.tar'))['epoch'] == before  # the earlier one is intact


# ---- metrics, summaries, processes

def test_attribute_without_known_value_is_not_averaged_as_zero():
    logits = torch.randn(4, 5)
    target = torch.tensor([[1, 0, -1, -1, -1], [0, 1, -1, -1, -1], [1, 0, -1, -1, -1], [0, 1, -1, -1, -1]],
                          dtype=torch.int8)
    summary = compute_multilabel_metrics(logits, target, group_sizes=[2, 3], group_names=['neck', 'pattern']).summary
    assert np.isnan(summary['pattern_acc'])
    assert summary['attr_mean_acc'] == summary['neck_acc']


def test_plot_refuses_a_summary_without_header(tmp_path):
    (tmp_path / 'summary.csv').write_text('3,0.5,0.6,40.0\n4,0.4,0.5,42.0\n')
    with pytest.raises(ValueError, match='no header row with an "epoch" column'):
        read_summary(str(tmp_path / 'summary.csv'))


def test_dist_timeout_reaches_the_process_group(monkeypatch):
    import torch.distributed as dist
    import train
    seen = {}
    monkeypatch.setattr(dist, 'init_process_group', lambda *a, **k: seen.update(k))
    train._patch_process_group_timeout(2.5)
    dist.init_process_group(backend='gloo')
    assert seen['timeout'] == datetime.timedelta(minutes=2.5)


# ---- end to end (slow)

@pytest.fixture
def bad_val(mosaic_data, tmp_path):
    data = tmp_path / 'data'
    shutil.copytree(mosaic_data, data)
    val = json.load(open(data / 'val.json'))
    good = (data / 'val' / '000000.png').read_bytes()
    (data / 'val' / 'truncated.png').write_bytes(good[:len(good) // 2])
    val['images'].append(['val/truncated.png', ['Bag']])
    json.dump(val, open(data / 'val.json', 'w'))
    return str(data)


@pytest.mark.slow
def test_bad_val_image_found_before_training_when_asked(bad_val, tmp_path):
    with pytest.raises(AssertionError, match=r'1 unreadable images in .*val\.json, first: .*truncated\.png'):
        run_script(['train.py', bad_val, *TINY, '--epochs', '1', '--verify-images', 'full', '--output',
                    str(tmp_path), '--experiment', 'v'])
    assert not os.path.exists(tmp_path / 'v' / 'summary.csv')  # stopped before the first epoch


@pytest.mark.slow
def test_evaluation_failure_keeps_the_trained_epoch(bad_val, tmp_path):
    with pytest.raises(AssertionError, match=r'Evaluation after epoch 0 failed: .*truncated\.png.*saved in '
                                             r'.*last\.pth\.tar'):
        run_script(['train.py', bad_val, *TINY, '--epochs', '1', '--output', str(tmp_path), '--experiment', 'e'])
    assert load_checkpoint_file(str(tmp_path / 'e' / 'last.pth.tar'))['epoch'] == 0


@pytest.mark.slow
def test_infer_skip_marks_and_counts_unreadable_images(bad_val, trained, tmp_path):
    ck = os.path.join(trained[0], 'last.pth.tar')  # trained on the same classes
    val = os.path.join(bad_val, 'val.json')
    with pytest.raises(AssertionError, match=r'Cannot read image .*truncated\.png.*--bad-images skip'):
        run_script(['infer.py', val, '--checkpoint', ck, '--output', str(tmp_path / 'p.csv'), '-j', '0'])
    proc = run_script(['infer.py', val, '--checkpoint', ck, '--output', str(tmp_path / 'p.csv'), '-j', '0',
                       '--bad-images', 'skip'])
    assert 'wrote 97 predictions' in proc.stdout and '(1 unreadable images marked)' in proc.stdout
    table = pd.read_csv(tmp_path / 'p.csv')
    assert len(table) == 98 and table.error.notna().sum() == 1
    assert table.loc[table.error.notna(), 'path'].item() == 'val/truncated.png'
    with pytest.raises(AssertionError, match="input 'nowhere' does not exist"):
        run_script(['infer.py', 'nowhere', '--checkpoint', ck])


@pytest.mark.parametrize('argv,message', [
    (['x.png', '--threshold', '1.5'], '--threshold 1.5: a probability threshold must be between 0 and 1'),
    (['x.png', '--output', '/no/where/p.csv'], 'folder /no/where does not exist'),
    (['nowhere.png'], "input 'nowhere.png' does not exist"),
])
def test_infer_arguments_are_checked_before_any_work(argv, message, capsys, monkeypatch, tmp_path):
    import infer
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'x.png').write_bytes(b'')
    with pytest.raises(SystemExit):
        infer.check_args(infer.parser.parse_args([*argv, '--checkpoint', 'none.pth.tar']))
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_resumed_run_in_a_new_folder_writes_a_summary_header(trained, mosaic_data, tmp_path):
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '4', '--resume', os.path.join(trained[0], 'last.pth.tar'),
                '--output', str(tmp_path / 'resumed')])
    (summary,) = [os.path.join(d, 'summary.csv') for d, _, f in os.walk(tmp_path / 'resumed') if 'summary.csv' in f]
    frame = read_summary(summary)
    assert list(frame.epoch) == [3]


# ---- found by probing as a user (adversarial pass)

def test_one_hot_csv_is_read_as_multi_hot_not_as_attributes(tmp_path):
    path = tmp_path / 'train.csv'
    path.write_text('filename,cat,dog,car\na.png,1,0,0\nb.png,0,1,-1\nc.png,1,1,\n')
    ls = read(str(path))
    assert ls.format == 'multihot' and ls.classes == ['cat', 'dog', 'car'] and not ls.schema.groups
    assert ls.targets.dense().tolist() == [[1, 0, 0], [0, 1, -1], [1, 1, -1]]


def _namespace(root, **kw):
    import argparse
    base = dict(data=root, data_dir=None, train_split='train', val_split='val', class_map='', label_format=None,
                label_delimiter=None, path_column=None, labels_column=None, unknown_values=None, image_dir=None,
                bad_images='error', simulate_partial=None, seed=0)
    return argparse.Namespace(**dict(base, **kw))


def test_train_and_val_with_different_classes_stop_before_training(mosaic_data):
    from timm_ml.data import create_label_sets
    with pytest.raises(ValueError, match=r'val_attributes.csv \(attributes\) does not hold the classes of .*train.json'):
        create_label_sets(_namespace(mosaic_data, val_split='val_attributes'), log=False)


def test_nothing_left_to_train_on_and_partial_simulation_of_attributes(mosaic_data):
    from timm_ml.data import create_label_sets
    with pytest.raises(ValueError, match=r'no known annotation left .*--simulate-partial rps:1.0'):
        create_label_sets(_namespace(mosaic_data, simulate_partial='rps:1.0'), log=False)
    with pytest.raises(ValueError, match='--simulate-partial hides single class entries'):
        create_label_sets(_namespace(mosaic_data, train_split='train_attributes', val_split='val_attributes',
                                     simulate_partial='rps:0.5'), log=False)


@pytest.mark.parametrize('flags,message', [
    (['--epochs', '0'], '--epochs must be >= 1'), (['--topk', '0'], '--topk must be >= 1'),
    (['--log-interval', '0'], '--log-interval must be >= 1'), (['--checkpoint-hist', '0'], '--checkpoint-hist'),
    (['--input-img-mode', 'L', '--input-size', '3', '32', '32'], '--input-img-mode L gives 1 channels'),
])
def test_zero_and_contradictory_values_are_refused(flags, message, capsys):
    import train
    args = train.parser.parse_args(['x', *flags])
    with pytest.raises(SystemExit):
        from timm_ml.utils.train_args import check_train_args
        check_train_args(args, train.parser)
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_resume_never_writes_into_another_runs_folder(trained, mosaic_data, tmp_path):
    (tmp_path / 'b').mkdir()  # an unrelated run's folder
    (tmp_path / 'b' / 'summary.csv').write_text('epoch,train_loss\n0,141.0\n')
    before = (tmp_path / 'b' / 'summary.csv').read_text()
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '4', '--resume', os.path.join(trained[0], 'last.pth.tar'),
                '--output', str(tmp_path), '--experiment', 'b'])
    assert (tmp_path / 'b' / 'summary.csv').read_text() == before and os.listdir(tmp_path / 'b') == ['summary.csv']
    assert list(read_summary(str(tmp_path / 'b-1' / 'summary.csv')).epoch) == [3]
    # infer: a bare path list is an input
    ck = os.path.join(trained[0], 'last.pth.tar')
    (tmp_path / 'list.csv').write_text('filename\n' + ''.join(f'{os.path.join(mosaic_data, "test", f)}\n'
                                                             for f in sorted(os.listdir(os.path.join(mosaic_data, 'test')))[:5]))
    proc = run_script(['infer.py', str(tmp_path / 'list.csv'), '--checkpoint', ck, '--output', str(tmp_path / 'p.csv'),
                       '-j', '0'])
    assert 'wrote 5 predictions' in proc.stdout
