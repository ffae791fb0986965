""" validate.py end to end (slow tier): it reproduces train.py's numbers from the checkpoint alone."""
import csv
import json
import os
import shutil

import pandas as pd
import pytest

from tests.helpers import TINY, run_script

pytestmark = pytest.mark.slow


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
    out_dir = str(tmp_path / 'run')
    shutil.copytree(trained[0], out_dir)
    for leftover in ('tmp.pth.tar', 'recovery_tmp.pth.tar'):  # temp files of interrupted saves are skipped
        open(os.path.join(out_dir, leftover), 'wb').close()
    finished = [f for f in os.listdir(out_dir) if f.endswith('.pth.tar') and 'tmp' not in f]
    proc = run_script(['validate.py', mosaic_data, '--checkpoint', out_dir, '-j', '0', '--split', 'test',
                       '--results-file', str(tmp_path / 'r.json')])
    assert proc.stdout.count('* mAP') == len(finished)
    with open(tmp_path / 'r.json') as f:
        results = json.load(f)  # one file, a row per checkpoint (timm's layout); a per-class CSV beside it for each
    assert sorted(os.path.basename(r['checkpoint']) for r in results) == sorted(finished)
    assert all(r['split'] == 'test' and r['images'] == 64 for r in results)
    assert os.path.isfile(tmp_path / 'r_model_best_per_class.csv')


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


def test_per_class_report_beside_the_results(trained, mosaic_data, tmp_path):
    out_dir, _ = trained
    run_script(['validate.py', mosaic_data, '--checkpoint', os.path.join(out_dir, 'model_best.pth.tar'), '-j', '0',
                '--results-file', str(tmp_path / 'r.json')])
    table = pd.read_csv(tmp_path / 'r_per_class.csv')
    result = json.load(open(tmp_path / 'r.json'))
    assert len(table) == 10 and abs(table.ap.mean() - result['map']) < 1e-6
    from PIL import Image
    png = Image.open(tmp_path / 'r_per_class.png')
    assert png.format == 'PNG' and png.size[1] > 200


def test_flag_mistakes_are_one_error_line_as_before_the_reshape(trained, tmp_path):
    """Regressions of the reshape onto timm's validate.py: --use-ema --no-ema and --results-format xml were accepted
    (raw weights used, CSV written into r.xml), a checkpoint that is not one was a traceback, --log-interval gone."""
    ck = os.path.join(trained[0], 'model_best.pth.tar')
    (tmp_path / 'summary.pth.tar').write_text('epoch,loss\n0,1\n')
    for extra, message in ((['--use-ema', '--no-ema'], 'contradicts --no-ema'),
                           (['--results-format', 'xml', '--results-file', str(tmp_path / 'r.xml')],
                            "--results-format 'xml': csv or json")):
        proc = run_script(['validate.py', '--checkpoint', ck, *extra], check=False)
        assert proc.returncode == 2 and message in proc.stderr
    proc = run_script(['validate.py', '--checkpoint', str(tmp_path / 'summary.pth.tar')], check=False)
    assert proc.returncode == 2 and 'cannot read it as a timm_ml checkpoint' in proc.stderr
    assert 'Traceback' not in proc.stderr and not (tmp_path / 'r.xml').exists()
    proc = run_script(['validate.py', '--checkpoint', ck, '-j', '0', '-b', '16', '--log-interval', '1'])
    assert proc.stderr.count('Test: [') > 2  # a line per batch


def test_a_folder_holding_a_thresholds_copy_validates_every_checkpoint(trained, mosaic_data, tmp_path):
    """The copy --estimate-thresholds writes has thr_* columns the others lack: the results CSV crashed."""
    folder = tmp_path / 'cks'
    folder.mkdir()
    shutil.copy(os.path.join(trained[0], 'model_best.pth.tar'), folder / 'model_best.pth.tar')
    run_script(['validate.py', mosaic_data, '--checkpoint', str(folder / 'model_best.pth.tar'), '-j', '0',
                '--estimate-thresholds'])
    run_script(['validate.py', mosaic_data, '--checkpoint', str(folder), '-j', '0', '--results-file',
                str(tmp_path / 'r.csv')])
    rows = list(csv.DictReader(open(tmp_path / 'r.csv')))
    assert len(rows) == 2 and sum(bool(r.get('thr_CF1')) for r in rows) == 1
