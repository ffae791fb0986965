""" train.py end to end (slow tier): timm's layout, DDP, engine flags, bad images, NaN, resume, run folders."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.helpers import ROOT, TINY, free_port, run_script
from timm_ml.plot import read_summary
from timm_ml.utils.checkpoint_io import load_checkpoint_file

pytestmark = pytest.mark.slow  # subprocess runs of the scripts


def summary_of(out_dir):
    return pd.read_csv(os.path.join(out_dir, 'summary.csv'))



def validate_json(data, checkpoint, tmp_path, extra=(), name='val.json', distributed=None):
    results = str(tmp_path / name)
    args = ['validate.py', data, '--checkpoint', checkpoint, '-b', '16', '-j', '0', '--results-file', results,
            *extra]
    proc = run_script(args) if distributed is None else run_script(
        ['torchrun', '--standalone', f'--nproc_per_node={distributed}', *args])
    with open(results) as f:
        return json.load(f), proc


def test_train_writes_timm_layout(trained):
    out_dir, proc = trained
    for name in ('args.yaml', 'summary.csv', 'last.pth.tar', 'model_best.pth.tar'):
        assert os.path.isfile(os.path.join(out_dir, name)), name
    summary = summary_of(out_dir)
    assert list(summary.epoch) == [0, 1, 2]
    for col in ('train_loss', 'eval_loss', 'eval_map', 'eval_CF1', 'eval_OF1', 'lr'):
        assert col in summary.columns
    assert summary.lr.iloc[0] > summary.lr.iloc[-1] > 0  # cosine decay recorded
    assert summary.eval_map.iloc[-1] > 40  # chance mAP on this data is ~30
    ck = load_checkpoint_file(os.path.join(out_dir, 'model_best.pth.tar'))  # torch.load(weights_only=True)
    config = ck['task_state']['ml_config']
    assert config['classes'][0] == 'T-shirt/top' and config['ml_head'] == 'linear'
    assert config['data_config']['input_size'] == [3, 32, 32]


def test_seed_style_command_runs_on_cpu(mosaic_data, tmp_path):
    proc = run_script([
        'train.py', mosaic_data, '--model', 'test_efficientnet', '-b', '16', '--sched', 'cosine', '--epochs', '1',
        '--decay-epochs', '2.4', '--decay-rate', '.97', '--opt', 'adamp', '--opt-eps', '.001', '-j', '0',
        '--warmup-lr', '1e-6', '--weight-decay', '1e-5', '--drop', '0.3', '--drop-connect', '0.2', '--model-ema',
        '--model-ema-decay', '0.9999', '--aa', 'rand-m9-mstd0.5', '--remode', 'pixel', '--reprob', '0.2', '--amp',
        '--lr', '.016', '--input-size', '3', '32', '32', '--output', str(tmp_path), '--experiment', 'seed'])
    assert 'using cpu autocast with bfloat16' in proc.stderr + proc.stdout
    ck = load_checkpoint_file(str(tmp_path / 'seed' / 'last.pth.tar'))
    assert 'state_dict_ema' in ck and ck['args'].opt == 'adamp'
    assert summary_of(str(tmp_path / 'seed')).shape[0] == 1


def test_pretrained_flag_offline_message(mosaic_data, tmp_path):
    with pytest.raises(AssertionError, match='--pretrained-path'):
        run_script(['train.py', mosaic_data, '--model', 'resnet10t', '--pretrained', '--epochs', '1',  # offline: must raise
                    '--output', str(tmp_path)], env={'HF_HUB_OFFLINE': '1'})


def test_ddp_gloo_two_processes_match_single_process(mosaic_data, tmp_path):
    run_script(['./distributed_train.sh', '2', mosaic_data, *TINY, '--epochs', '1', '--output', str(tmp_path),
                '--experiment', 'ddp'], env={'MASTER_PORT': str(free_port())})
    out_dir = str(tmp_path / 'ddp')
    logged = summary_of(out_dir).iloc[-1]
    ck = os.path.join(out_dir, 'model_best.pth.tar')
    single, _ = validate_json(mosaic_data, ck, tmp_path, name='single.json')
    double, _ = validate_json(mosaic_data, ck, tmp_path, name='double.json', distributed=2)
    # 97 val images over 2 ranks: the sampler pads one, which must not be counted
    assert single['images'] == 97
    for key in ('map', 'CF1', 'OF1', 'top3_OF1'):
        assert abs(single[key] - double[key]) < 1e-9, key
        assert abs(single[key] - logged['eval_' + key]) < 1e-3, key


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
    (['--kd-model-name', 'resnet18'], '--kd-model-name resnet18: name its outputs with --kd-class-map'),
    (['-b', '256'], 'fewer than one batch of 256'),
])
def test_flags_that_cannot_apply_stop_before_training(mosaic_data, tmp_path, flags, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', *flags, '--output', str(tmp_path),
                    '--experiment', 'x'])
    assert not os.path.exists(tmp_path / 'x' / 'summary.csv')


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
    resumed = pd.read_csv(out / 'summary.csv')  # no duplicate rows to drop: one per epoch
    assert list(resumed.epoch) == [0, 1, 2]
    for col in ('eval_map', 'eval_loss', 'eval_OF1', 'lr'):
        assert abs(full[col].iloc[-1] - resumed[col].iloc[-1]) < 1e-9, col


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
def test_resumed_run_in_a_new_folder_writes_a_summary_header(trained, mosaic_data, tmp_path):
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '4', '--resume', os.path.join(trained[0], 'last.pth.tar'),
                '--output', str(tmp_path / 'resumed')])
    (summary,) = [os.path.join(d, 'summary.csv') for d, _, f in os.walk(tmp_path / 'resumed') if 'summary.csv' in f]
    frame = read_summary(summary)
    assert list(frame.epoch) == [3]


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


@pytest.mark.slow
def test_plateau_schedule_and_early_stop_in_train(mosaic_data, tmp_path):
    # no change of mAP counts as an improvement (min delta 100), so training stops after epoch 0 + 2 epochs
    proc = run_script(['train.py', mosaic_data, *TINY, '--sched', 'plateau', '--epochs', '6',
                       '--early-stop-patience', '2', '--early-stop-min-delta', '100', '--output', str(tmp_path),
                       '--experiment', 'es'])
    summary = pd.read_csv(tmp_path / 'es' / 'summary.csv')
    assert len(summary) == 3
    assert 'Early stopping at epoch 2' in proc.stderr + proc.stdout
    best = load_checkpoint_file(str(tmp_path / 'es' / 'model_best.pth.tar'))['epoch']
    assert best == summary.epoch[summary.eval_map.idxmax()]  # model_best stays the best epoch


@pytest.mark.parametrize('head,extra', [
    ('linear', []),
    ('mldecoder', ['--mld-groups', '5', '--mld-dim', '64', '--mld-ff', '128', '--mld-heads', '4']),
    ('cosine', ['--aam-s', '10', '--aam-m', '0.1', '--aam-k', '0.7']),
    ('attributes', ['--train-split', 'train_attributes', '--val-split', 'val_attributes']),
    ('gcn', []),
    ('ssgrl', ['--ssgrl-attention-dim', '64', '--ssgrl-graph-dim', '64']),
])
@pytest.mark.slow
def test_each_head_learns_and_reloads_without_flags(head, extra, mosaic_data, tmp_path):
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '4', '--ml-head', head, *extra,
                '--output', str(tmp_path), '--experiment', head])
    out = tmp_path / head
    summary = pd.read_csv(out / 'summary.csv')
    assert summary.eval_map.max() > summary.eval_map.iloc[0] + 2, summary.eval_map.tolist()
    split = 'val_attributes' if head == 'attributes' else 'val'
    proc = run_script(['validate.py', mosaic_data, '--split', split, '--checkpoint', str(out / 'model_best.pth.tar'),
                       '-j', '0'])
    if head == 'attributes':  # ranked by the mean group accuracy, reported as accuracy first (never 0.5 on softmax)
        assert f'* acc {summary.eval_attr_mean_acc.max():.3f}' in proc.stdout and 'eval_cell00_acc' in summary.columns
        assert '  cell00: acc ' in proc.stdout
    else:
        assert f'* mAP {summary.eval_map.max():.3f}' in proc.stdout


def test_console_scripts_run_from_another_folder(mosaic_data, tmp_path):
    """`pip install -e .` (scripts/install.sh) gives timm-ml-train / -validate / -infer, the same scripts anywhere."""
    import shutil as sh
    for name in ('timm-ml-train', 'timm-ml-validate', 'timm-ml-infer', 'timm-ml-onnx-predict'):
        assert sh.which(name), f'{name} not installed: run bash scripts/install.sh (pip install -e .)'
    run_script([sh.which('timm-ml-train'), mosaic_data, *TINY, '--epochs', '1', '--experiment', 'here'],
               cwd=str(tmp_path))
    ck = tmp_path / 'output' / 'train' / 'here' / 'model_best.pth.tar'  # timm's layout, under this folder
    proc = run_script([sh.which('timm-ml-validate'), '--checkpoint', str(ck), '-j', '0'], cwd=str(tmp_path))
    assert '* mAP' in proc.stdout
    run_script([sh.which('timm-ml-infer'), os.path.join(mosaic_data, 'test'), '--checkpoint', str(ck), '--output',
                'p.csv', '-j', '0'], cwd=str(tmp_path))
    assert len(pd.read_csv(tmp_path / 'p.csv')) == 64


@pytest.fixture(scope='module')
def mosaic_shards(mosaic_data, tmp_path_factory):
    from timm_ml.data.to_shards import convert
    out = str(tmp_path_factory.mktemp('wds'))
    convert(mosaic_data, out, ['train', 'val'], shard_size=23, log=lambda *a: None)  # no shard count divides
    return out


STREAM = [*TINY, '-j', '2', '--epochs', '3', '-b', '16']


def test_training_from_shards_validates_and_resumes_exactly(mosaic_shards, tmp_path):
    run_script(['train.py', '--dataset', f'wds/{mosaic_shards}', *STREAM, '--output', str(tmp_path),
                '--experiment', 'full'])
    full = summary_of(tmp_path / 'full')
    assert list(full.epoch) == [0, 1, 2] and full.eval_map.iloc[-1] > 40
    ck = tmp_path / 'full' / 'model_best.pth.tar'
    proc = run_script(['validate.py', '--checkpoint', str(ck), '-j', '2', '-b', '16'])  # shards from the checkpoint
    assert f'* mAP {full.eval_map.max():.3f}' in proc.stdout
    # SIGTERM in the middle of epoch 1 (a preempted job), then --resume from the recovery checkpoint it writes
    proc = subprocess.Popen([sys.executable, 'train.py', '--dataset', f'wds/{mosaic_shards}', *STREAM,
                             '--log-interval', '1', '--output', str(tmp_path), '--experiment', 'cut'], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if 'Train: 1 [   5/' in line:
            proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 128 + signal.SIGTERM, ''.join(lines)[-2000:]
    saved = ''.join(lines).split('Continue with --resume ')[-1].split()[0]
    run_script(['train.py', '--dataset', f'wds/{mosaic_shards}', *STREAM, '--output', str(tmp_path), '--experiment',
                'cut', '--resume', saved])
    cut = summary_of(tmp_path / 'cut')
    assert list(cut.epoch) == [0, 1, 2]
    for col in ('eval_map', 'eval_loss', 'train_loss'):
        assert (cut[col] - full[col]).abs().max() < 1e-9, col


def test_two_processes_stream_uneven_shards_without_a_hang(mosaic_shards, mosaic_data, tmp_path):
    run_script(['torchrun', '--standalone', '--nproc_per_node=2', 'train.py', '--dataset', f'wds/{mosaic_shards}',
                *TINY, '-j', '2', '--epochs', '1', '-b', '16', '--output', str(tmp_path), '--experiment', 'ddp'],
               timeout=300)
    logged = summary_of(tmp_path / 'ddp').iloc[-1]
    ck = str(tmp_path / 'ddp' / 'last.pth.tar')
    single = run_script(['validate.py', '--checkpoint', ck, '-j', '2', '-b', '16'])  # one process, all 97 images
    assert f'* mAP {logged.eval_map:.3f}' in single.stdout  # the two ranks' evaluation equals one process's


def _hf_dataset(mosaic_data, out, negatives=False):
    """The mosaic splits as a Hugging Face dataset saved with save_to_disk: Image + Sequence(ClassLabel) features."""
    import datasets
    from PIL import Image
    from tests.helpers import read
    parts = {}
    for split, name in (('train', 'train'), ('val', 'validation')):
        labels = read(mosaic_data, split)
        dense = labels.targets.dense()
        columns = dict(image=[Image.open(os.path.join(labels.root, p)).convert('RGB') for p in labels.paths],
                       labels=[[int(c) for c in row.nonzero()[0]] for row in dense])
        features = dict(image=datasets.Image(), labels=datasets.Sequence(datasets.ClassLabel(names=labels.classes)))
        if negatives:  # verified negatives: the first two absent classes; every other class is then unknown
            columns['labels_negatives'] = [[int(c) for c in (row == 0).nonzero()[0][:2]] for row in dense]
            features['labels_negatives'] = datasets.Sequence(datasets.ClassLabel(names=labels.classes))
        parts[name] = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    datasets.DatasetDict(parts).save_to_disk(out)
    return out


@pytest.mark.parametrize('negatives', [False, True])
def test_a_hugging_face_dataset_trains_and_validates(mosaic_data, tmp_path, negatives):
    path = _hf_dataset(mosaic_data, str(tmp_path / 'hfdata'), negatives)
    run_script(['train.py', '--dataset', f'hfds/{path}', *TINY, '--epochs', '2', '--output', str(tmp_path),
                '--experiment', 'hf'])
    summary = summary_of(tmp_path / 'hf')
    proc = run_script(['validate.py', '--checkpoint', str(tmp_path / 'hf' / 'model_best.pth.tar'), '-j', '0'])
    assert f'* mAP {summary.eval_map.max():.3f}' in proc.stdout
    ck = load_checkpoint_file(str(tmp_path / 'hf' / 'model_best.pth.tar'))
    assert ck['task_state']['ml_config']['classes'][0] == 'T-shirt/top'  # the ClassLabel names
    from timm_ml.data import LabelOptions
    from timm_ml.data.readers.reader_hfds import read_hf_split
    counts = read_hf_split(path, 'train', LabelOptions()).targets.class_counts()
    if negatives:  # positives and two verified negatives per image; every other class unknown
        assert counts[1].sum() == 2 * 192 and counts[2].sum() == 192 * 10 - counts[0].sum() - 2 * 192
    else:
        assert counts[2].sum() == 0
