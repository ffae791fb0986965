""" End-to-end checks of the training engine: train.py / validate.py as subprocesses (slow tier)."""
import csv
import json
import os
import re

import pandas as pd
import pytest

from tests.helpers import TINY, free_port, run_script
from timm_ml.utils import load_checkpoint_file

pytestmark = pytest.mark.slow

NO_BN = ['--model', 'test_vit', '--input-size', '3', '32', '32', '--model-kwargs', 'img_size=32', '-b', '32', '-j',
         '0', '--warmup-epochs', '0', '--opt', 'adamw', '--no-aug', '--epochs', '1', '--log-interval', '1']


def test_ddp_train_loss_is_the_mean_over_all_ranks(mosaic_data, tmp_path):
    # lr 0, no augmentation, no batch norm: every sample's loss is fixed, so the epoch's train_loss is the mean over
    # the 192 images however they are split into batches and ranks (regression: DDP logged a mix of rank-local and
    # reduced values)
    run_script(['train.py', mosaic_data, *NO_BN, '--lr', '0', '--output', str(tmp_path), '--experiment', 'one'])
    run_script(['./distributed_train.sh', '2', mosaic_data, *NO_BN, '--lr', '0', '--output', str(tmp_path),
                '--experiment', 'two'], env={'MASTER_PORT': str(free_port())})
    one = pd.read_csv(tmp_path / 'one' / 'summary.csv').train_loss.iloc[0]
    two = pd.read_csv(tmp_path / 'two' / 'summary.csv').train_loss.iloc[0]
    assert two == pytest.approx(one, rel=1e-5)


def test_ddp_attribute_head(mosaic_data, tmp_path):
    # regression: --ml-head attributes read the model config after the DDP wrap and crashed
    run_script(['./distributed_train.sh', '2', mosaic_data, *TINY, '--epochs', '1', '--ml-head', 'attributes',
                '--train-split', 'train_attributes', '--val-split', 'val_attributes', '--output', str(tmp_path),
                '--experiment', 'attr'], env={'MASTER_PORT': str(free_port())})
    summary = pd.read_csv(tmp_path / 'attr' / 'summary.csv')
    assert 'eval_attr_mean_acc' in summary.columns and summary.eval_attr_mean_acc.iloc[0] > 0


def test_opt_kwargs_epoch_repeats_and_eval_metric_spelling_take_effect(mosaic_data, tmp_path):
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--opt-kwargs', 'betas=(0.5,0.6)',
                '--epoch-repeats', '2', '--eval-metric', 'mAP', '--output', str(tmp_path), '--experiment', 'k'])
    ck = load_checkpoint_file(str(tmp_path / 'k' / 'last.pth.tar'))
    group = ck['optimizer']['param_groups'][0]
    assert tuple(group['betas']) == (0.5, 0.6)
    steps = {float(s['step']) for s in ck['optimizer']['state'].values()}
    assert steps == {12.}  # 192 images x 2 repeats / batch 32
    assert ck['metric'] == pd.read_csv(tmp_path / 'k' / 'summary.csv').eval_map.iloc[0]


@pytest.mark.parametrize('flags,message', [
    (['--amp-impl', 'apex'], '--amp-impl'),
    (['--eval-metric', 'f1'], "--eval-metric 'f1' is not an evaluation column"),
    (['--kd-model-name', 'resnet18'], 'knowledge distillation'),
    (['-b', '256'], 'fewer than one batch of 256'),
])
def test_flags_that_cannot_apply_stop_before_training(mosaic_data, tmp_path, flags, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', *flags, '--output', str(tmp_path),
                    '--experiment', 'x'])
    assert not os.path.exists(tmp_path / 'x' / 'summary.csv')


def _write_comma_csv(mosaic_data, split, out):
    with open(os.path.join(mosaic_data, f'{split}.json')) as f:
        rows = json.load(f)['images']
    with open(out, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['path', 'labels'])
        for path, labels in rows:
            w.writerow([path, ','.join(labels)])


def test_validate_reads_the_split_the_way_training_did(mosaic_data, tmp_path):
    # class names hold spaces ("Ankle boot"): training needed --label-delimiter ','; validate.py takes it from the
    # checkpoint (regression: it split on spaces and failed on the same val file)
    for split in ('train', 'val'):
        _write_comma_csv(mosaic_data, split, os.path.join(mosaic_data, f'{split}_comma.csv'))
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--train-split', 'train_comma', '--val-split',
                'val_comma', '--label-delimiter', ',', '--output', str(tmp_path), '--experiment', 'c'])
    proc = run_script(['validate.py', mosaic_data, '--split', 'val_comma', '--checkpoint',
                       str(tmp_path / 'c' / 'model_best.pth.tar'), '-j', '0'])
    logged = pd.read_csv(tmp_path / 'c' / 'summary.csv').eval_map.iloc[0]
    assert f'* mAP {logged:.3f}' in proc.stdout


def test_resume_refuses_a_checkpoint_trained_on_reordered_classes(mosaic_data, tmp_path):
    with open(os.path.join(mosaic_data, 'train.json')) as f:
        classes = json.load(f)['classes']
    (tmp_path / 'fwd.txt').write_text('\n'.join(classes))
    (tmp_path / 'rev.txt').write_text('\n'.join(reversed(classes)))
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--class-map', str(tmp_path / 'fwd.txt'),
                '--output', str(tmp_path), '--experiment', 'r'])
    with pytest.raises(AssertionError, match='another order'):
        run_script(['train.py', mosaic_data, *TINY, '--epochs', '2', '--class-map', str(tmp_path / 'rev.txt'),
                    '--resume', str(tmp_path / 'r' / 'last.pth.tar'), '--output', str(tmp_path), '--experiment', 'r'])
