import json
import os

import pandas as pd
import pytest

from tests.helpers import TINY, free_port, run_script
from timm_ml.utils import load_checkpoint_file

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


def test_validate_reproduces_best_epoch(trained, mosaic_data, tmp_path):
    out_dir, _ = trained
    summary = summary_of(out_dir)
    best = summary.loc[summary.eval_map.idxmax()]
    result, proc = validate_json(mosaic_data, os.path.join(out_dir, 'model_best.pth.tar'), tmp_path)
    assert abs(result['map'] - best.eval_map) < 1e-6
    assert abs(result['OF1'] - best.eval_OF1) < 1e-6
    assert abs(result['loss'] - best.eval_loss) < 1e-6  # same evaluation loss as train.py
    assert f"* mAP {best.eval_map:.3f}" in proc.stdout
    per_class = pd.read_csv(str(tmp_path / 'val_per_class.csv'))
    assert len(per_class) == 10 and abs(per_class.ap.mean() - result['map']) < 1e-6


def test_validate_other_split_and_checkpoint_folder(trained, mosaic_data, tmp_path):
    out_dir, _ = trained
    proc = run_script(['validate.py', mosaic_data, '--checkpoint', out_dir, '-j', '0', '--split', 'test',
                          "--results-file", str(tmp_path / "r.json")])
    assert proc.stdout.count('* mAP') == len([f for f in os.listdir(out_dir) if f.endswith('.pth.tar')])
    with open(tmp_path / 'r_model_best.json') as f:
        result = json.load(f)
    assert result['split'] == 'test' and result['images'] == 64


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


def test_seed_validate_command_verbatim_and_without_prefetcher(trained, mosaic_data, tmp_path):
    # the seed's command: validate.py <data> --model <arch> --checkpoint .../model_best.pth.tar -b 64
    out_dir, _ = trained
    best = os.path.join(out_dir, 'model_best.pth.tar')
    proc = run_script(['validate.py', mosaic_data, '--model', 'test_resnet', '--checkpoint', best, '-b', '64'])
    logged = summary_of(out_dir).eval_map.max()
    assert f'* mAP {logged:.3f}' in proc.stdout
    plain, _ = validate_json(mosaic_data, best, tmp_path, extra=['--no-prefetcher'], name='plain.json')
    assert abs(plain['map'] - logged) < 1e-4  # GPU-style normalisation in the prefetcher = the CPU transform
    with pytest.raises(AssertionError, match='holds a test_resnet'):
        run_script(['validate.py', mosaic_data, '--model', 'resnet50', '--checkpoint', best])
