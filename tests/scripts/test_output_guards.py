""" Outputs never overwrite inputs and bad arguments end in one `error:` line (exit 2), end to end (slow tier): the
label file, the run's own records and the input images are never replaced; an option that names nothing real is
refused before any prediction is written."""
import hashlib
import os
import shutil

import pandas as pd
import pytest

from tests.helpers import run_script

pytestmark = pytest.mark.slow


def _digest(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def _refused(proc, *needles):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count('error:') == 1 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize('target', ['label file', 'summary', 'args', 'another label file'])
def test_validate_results_never_replace_the_label_file_or_the_run_records(trained, mosaic_data, tmp_path, target):
    run = str(tmp_path / 'run')
    shutil.copytree(trained[0], run)
    data = str(tmp_path / 'data')
    shutil.copytree(mosaic_data, data)
    victim = {'label file': os.path.join(data, 'val.json'), 'summary': os.path.join(run, 'summary.csv'),
              'args': os.path.join(run, 'args.yaml'), 'another label file': os.path.join(data, 'train.json')}[target]
    before = _digest(victim)
    proc = run_script(['validate.py', data, '--checkpoint', os.path.join(run, 'model_best.pth.tar'), '-j', '0',
                       '--results-file', victim, '--results-format', 'csv'], check=False)
    _refused(proc, 'writing it would destroy it')
    assert _digest(victim) == before


def test_threshold_copy_is_named_from_the_file_name_alone(trained, mosaic_data, tmp_path):
    """The copy holding the estimated thresholds goes beside the checkpoint, whatever its folder is called."""
    folder = tmp_path / 'exp.pth.tar.d'
    folder.mkdir()
    ck = folder / 'best.pth.tar'
    shutil.copy(os.path.join(trained[0], 'model_best.pth.tar'), ck)
    proc = run_script(['validate.py', mosaic_data, '--checkpoint', str(ck), '-j', '0', '--estimate-thresholds',
                       '--split', 'train'])
    assert "--estimate-thresholds on 'train', the split this checkpoint was trained on" in proc.stderr
    assert sorted(os.listdir(folder)) == ['best.pth.tar', 'best_thresholds.pth.tar', 'thresholds.csv',
                                          'thresholds.npy']


def test_infer_never_writes_over_an_input_image_and_names_unknown_groups(trained, mosaic_data, tmp_path):
    images = tmp_path / 'images'
    shutil.copytree(os.path.join(mosaic_data, 'test'), images)
    first = sorted(os.listdir(images))[0]
    before = _digest(images / first)
    ck = os.path.join(trained[0], 'model_best.pth.tar')
    proc = run_script(['infer.py', str(images), '--checkpoint', ck, '--output', str(images / first), '-j', '0'],
                      check=False)
    _refused(proc, 'that is one of the input images')
    assert _digest(images / first) == before
    shutil.copy(os.path.join(mosaic_data, 'val.json'), images / 'labels.json')  # a label file is not called an image
    before = _digest(images / 'labels.json')
    proc = run_script(['infer.py', str(images), '--checkpoint', ck, '--output', str(images / 'labels.json'), '-j', '0'],
                      check=False)
    _refused(proc, 'writing it would destroy it')
    assert 'input images' not in proc.stderr and _digest(images / 'labels.json') == before
    proc = run_script(['infer.py', str(images), '--checkpoint', ck, '--output', str(tmp_path / 'p.csv'), '-j', '0',
                       '--column-names', 'nekc=Neck'], check=False)
    _refused(proc, "--column-names ['nekc']: not groups of this model")
    assert not os.path.exists(tmp_path / 'p.csv')
    other = tmp_path / 'other.pth.tar'  # another checkpoint of the run: not ours to replace with predictions
    shutil.copy(os.path.join(trained[0], 'last.pth.tar'), other)
    before = _digest(other)
    proc = run_script(['infer.py', str(images), '--checkpoint', ck, '--output', str(other), '--format', 'csv', '-j',
                       '0'], check=False)
    _refused(proc, 'that file exists and it holds checkpoint of ours; writing it would destroy it')
    assert _digest(other) == before


def test_infer_reads_every_row_of_a_one_column_list_with_or_without_header(trained, mosaic_data, tmp_path):
    images = sorted(os.listdir(os.path.join(mosaic_data, 'test')))[:5]
    ck = os.path.join(trained[0], 'model_best.pth.tar')
    for name, header in (('bare.csv', ''), ('named.csv', 'path\n')):
        listing = tmp_path / name
        listing.write_text(header + ''.join(f'test/{i}\n' for i in images))
        out = tmp_path / f'{name}.out.csv'
        target = os.path.join(mosaic_data, name)
        shutil.copy(listing, target)
        try:
            run_script(['infer.py', target, '--checkpoint', ck, '--output', str(out), '-j', '0'])
        finally:
            os.remove(target)
        assert list(pd.read_csv(out).path) == [f'test/{i}' for i in images], name


def test_a_diverging_run_ends_in_one_error_line_naming_the_step(mosaic_data, tmp_path):
    from tests.helpers import TINY
    proc = run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--opt', 'sgd', '--lr', '1e30', '--output',
                       str(tmp_path), '--experiment', 'run'], check=False)
    _refused(proc, 'Loss is nan at epoch 0, step', 'Lower --lr')
