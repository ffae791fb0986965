""" Distillation end to end: a timm_ml teacher filling hidden labels resumes after SIGKILL to the uninterrupted run's
numbers (filled counts included) and validates like any run; a stock timm teacher with local weights and a class map
teaches the classes it names; flags that need a teacher say so."""
import glob
import os

import pandas as pd
import pytest
import timm
import torch

from tests.helpers import TINY, run_script
from tests.scripts.test_train import _kill_when
from timm_ml.utils.checkpoint_io import load_checkpoint_file, read_ml_config

STUDENT = [*TINY, '--epochs', '2', '-b', '16', '--recovery-interval', '3', '--simulate-partial', 'rps:0.5',
           '--fill-unknown', 'teacher', '--kd-temperature', '2']


@pytest.mark.slow
def test_a_teacher_filled_run_resumes_exactly_and_validates(trained, mosaic_data, tmp_path):
    teacher = os.path.join(trained[0], 'model_best.pth.tar')
    args = ['train.py', mosaic_data, *STUDENT, '--kd-checkpoint', teacher, '--output', str(tmp_path)]
    run_script([*args, '--experiment', 'full'])
    _kill_when(str(tmp_path / 'killed' / 'recovery-1-*.pth.tar'), [*args, '--experiment', 'killed'])
    resume = sorted(glob.glob(str(tmp_path / 'killed' / 'recovery-*.pth.tar')))[-1]
    run_script([*args, '--experiment', 'killed', '--resume', resume])
    full, resumed = (pd.read_csv(tmp_path / e / 'summary.csv') for e in ('full', 'killed'))
    assert list(resumed.epoch) == [0, 1]
    assert full.train_filled.tolist() == resumed.train_filled.tolist() and full.train_filled.iloc[0] > 0
    for col in ('train_loss', 'eval_map', 'eval_loss'):
        assert abs(full[col].iloc[-1] - resumed[col].iloc[-1]) < 1e-9, col
    best = str(tmp_path / 'full' / 'model_best.pth.tar')
    config = read_ml_config(load_checkpoint_file(best))
    assert config['distill']['kd_checkpoint'] == teacher and config['distill']['fill_unknown'] == 'teacher'
    assert not any('teacher' in k for k in load_checkpoint_file(best)['state_dict'])
    proc = run_script(['validate.py', '--checkpoint', best, '-j', '0'])
    assert f'{full.eval_map.max():.3f}' in proc.stdout  # the run's best epoch, no flags
    with pytest.raises(AssertionError, match='the teacher and its --kd-'):  # another teacher, same run folder
        run_script([*args, '--experiment', 'full', '--epochs', '3', '--kd-temperature', '1', '--resume',
                    str(tmp_path / 'full' / 'last.pth.tar')])


@pytest.mark.slow
def test_a_stock_timm_teacher_teaches_the_classes_its_class_map_names(mosaic_data, tmp_path):
    names = ['Bag', 'Sneaker', 'Zebra']  # two of the student's classes and one it does not have
    teacher = timm.create_model('test_resnet', num_classes=len(names))
    torch.save(teacher.state_dict(), tmp_path / 'teacher.pth')
    (tmp_path / 'classes.txt').write_text('\n'.join(names) + '\n')
    proc = run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--kd-model-name', 'test_resnet',
                       '--kd-pretrained-path', str(tmp_path / 'teacher.pth'), '--kd-class-map',
                       str(tmp_path / 'classes.txt'), '--distill-loss-weight', '0.5', '--output', str(tmp_path),
                       '--experiment', 's'])
    assert 'teacher test_resnet (stock timm, sigmoid): 2 of the student\'s 10 classes' in proc.stderr
    assert 'task weight 1.0, distill weight 0.5' in proc.stderr
    (tmp_path / 'short.txt').write_text('Bag\n')  # one name for three outputs: the weights do not fit
    bad = run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--kd-model-name', 'test_resnet',
                      '--kd-pretrained-path', str(tmp_path / 'teacher.pth'), '--kd-class-map',
                      str(tmp_path / 'short.txt'), '--output', str(tmp_path), '--experiment', 'b'], check=False)
    assert bad.returncode == 2 and 'do not fit test_resnet with 1 outputs' in bad.stderr.strip().splitlines()[-1]
    bad = run_script(['train.py', mosaic_data, *TINY, '--fill-unknown', 'teacher', '--output', str(tmp_path)],
                     check=False)
    assert bad.returncode == 2 and '--fill-unknown need a teacher: --kd-checkpoint PATH' in bad.stderr
