import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.helpers import ROOT, TINY, run_script, read
from timm_ml.data import LabelFileError


@pytest.fixture
def bad_data(mosaic_data, tmp_path):
    """The mosaic train/val splits plus four unreadable images (zero-byte, truncated, not an image, missing)."""
    data = tmp_path / 'bad'
    shutil.copytree(mosaic_data, data)
    train = json.load(open(data / 'train.json'))
    (data / 'train' / 'zero.png').write_bytes(b'')
    good = (data / 'train' / '000000.png').read_bytes()
    (data / 'train' / 'truncated.png').write_bytes(good[:len(good) // 2])
    (data / 'train' / 'text.png').write_text('not an image')
    for name in ('zero.png', 'truncated.png', 'text.png', 'missing.png'):
        train['images'].append([f'train/{name}', ['Bag']])
    json.dump(train, open(data / 'train.json', 'w'))
    return str(data)


@pytest.mark.slow
def test_bad_images_error_names_the_file(bad_data, tmp_path):
    with pytest.raises(AssertionError, match=r'Cannot read image .*train/(zero|truncated|text|missing)\.png'):
        run_script(['train.py', bad_data, *TINY, '--epochs', '1', '--output', str(tmp_path)])


@pytest.mark.slow
def test_bad_images_skip_counts_and_logs(bad_data, tmp_path):
    proc = run_script(['train.py', bad_data, *TINY, '--epochs', '1', '--bad-images', 'skip', '--output',
                       str(tmp_path), '--experiment', 'skip'])
    assert 'skipped 4 unreadable images' in proc.stderr
    summary = pd.read_csv(tmp_path / 'skip' / 'summary.csv')
    assert summary.train_skipped_images.iloc[0] == 4
    run_script(['validate.py', bad_data, '--split', 'train', '--checkpoint', str(tmp_path / 'skip' / 'last.pth.tar'),
                '--bad-images', 'skip', '-j', '0', '--results-file', str(tmp_path / 'r.json')])
    result = json.load(open(tmp_path / 'r.json'))
    assert result['skipped'] == 4 and result['images'] == 192


def test_empty_label_file_is_an_error(tmp_path):
    (tmp_path / 'train.csv').write_text('path,labels\n')
    with pytest.raises(LabelFileError, match='train.csv: no images'):
        read(str(tmp_path / 'train.csv'))


@pytest.mark.slow
def test_nan_loss_stops_with_step(mosaic_data, tmp_path):
    with pytest.raises(AssertionError, match=r'Loss is (nan|inf) at epoch 0, step \d+: stopping.*no checkpoint was '
                                             r'written yet'):
        run_script(['train.py', mosaic_data, *TINY, '--opt', 'sgd', '--lr', '1e30', '--epochs', '1',
                    '--output', str(tmp_path)])


RESUME_ARGS = [*TINY, '--epochs', '3', '-b', '16', '--recovery-interval', '3', '--model-ema',
               '--model-ema-decay', '0.9']


def _kill_when(pattern, args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    start = time.time()
    try:
        while not glob.glob(pattern):
            assert proc.poll() is None, 'training ended before it could be killed'
            assert time.time() - start < timeout
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.parametrize('resume_from', ['recovery', 'last'])
def test_sigkill_then_resume_matches_uninterrupted(mosaic_data, tmp_path, resume_from):
    run_script(['train.py', mosaic_data, *RESUME_ARGS, '--output', str(tmp_path), '--experiment', 'full'])
    out = tmp_path / 'killed'
    pattern = str(out / ('recovery-1-5.pth.tar' if resume_from == 'recovery' else 'checkpoint-0.pth.tar'))
    _kill_when(pattern, ['train.py', mosaic_data, *RESUME_ARGS, '--output', str(tmp_path), '--experiment', 'killed'])
    if resume_from == 'recovery':
        resume = sorted(glob.glob(str(out / 'recovery-*.pth.tar')))[-1]
    else:
        resume = str(out / 'last.pth.tar')
    run_script(['train.py', mosaic_data, *RESUME_ARGS, '--output', str(tmp_path), '--experiment', 'killed',
                '--resume', resume])
    full = pd.read_csv(tmp_path / 'full' / 'summary.csv')
    resumed = pd.read_csv(out / 'summary.csv').drop_duplicates('epoch', keep='last')
    assert list(resumed.epoch) == [0, 1, 2]
    for col in ('eval_map', 'eval_loss', 'eval_OF1', 'lr'):
        assert abs(full[col].iloc[-1] - resumed[col].iloc[-1]) < 1e-9, col
