import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.helpers import run_script
from timm_ml.utils import load_checkpoint_file, load_model_from_checkpoint, read_ml_config

pytestmark = pytest.mark.slow  # subprocess runs of the scripts


def test_estimate_thresholds_raise_f1_and_change_infer(trained, mosaic_data, tmp_path):
    out_dir, _ = trained
    best = os.path.join(out_dir, 'model_best.pth.tar')
    proc = run_script(['validate.py', mosaic_data, '--checkpoint', best, '-j', '0', '--estimate-thresholds',
                       '--results-file', str(tmp_path / 'r.json')])
    import json
    result = json.load(open(tmp_path / 'r.json'))
    assert result['thr_CF1'] > result['CF1'] and result['thr_OF1'] >= result['OF1']
    assert 'per-class thresholds: CF1' in proc.stdout
    thresholds = np.load(os.path.join(out_dir, 'thresholds.npy'))
    table = pd.read_csv(os.path.join(out_dir, 'thresholds.csv'))
    ck_path = os.path.join(out_dir, 'model_best_thresholds.pth.tar')
    config = read_ml_config(load_checkpoint_file(ck_path))
    assert list(table['class']) == config['classes'] and np.allclose(table.threshold, thresholds, atol=1e-5)
    assert np.allclose(config['thresholds'], thresholds)

    # validate.py picks the saved thresholds up by itself; --threshold overrides them
    run_script(['validate.py', mosaic_data, '--checkpoint', ck_path, '-j', '0', '--results-file', str(tmp_path / 's.json')])
    again = json.load(open(tmp_path / 's.json'))
    assert abs(again['thr_CF1'] - result['thr_CF1']) < 1e-6

    val = os.path.join(mosaic_data, 'val.json')
    run_script(['infer.py', val, '--checkpoint', ck_path, '--output', str(tmp_path / 'tuned.csv'), '-j', '0'])
    run_script(['infer.py', val, '--checkpoint', ck_path, '--output', str(tmp_path / 'plain.csv'), '-j', '0',
                '--threshold', '0.5'])
    tuned = pd.read_csv(tmp_path / 'tuned.csv', keep_default_na=False)
    plain = pd.read_csv(tmp_path / 'plain.csv', keep_default_na=False)
    assert len(tuned) == 97 and list(tuned.columns[:3]) == ['path', 'labels', 'top3']
    assert (tuned['labels'] != plain['labels']).any()
    score_cols = [c for c in tuned.columns if c.startswith('score_')]
    assert len(score_cols) == 10
    # the saved labels are exactly the scores above each class threshold
    row = tuned.iloc[0]
    expect = [c[6:] for c, t in zip(score_cols, thresholds) if row[c] >= t - 1e-6]
    assert sorted(filter(None, row['labels'].split(';'))) == sorted(expect)


def test_infer_scores_match_model(trained, mosaic_data, tmp_path):
    out_dir, _ = trained
    ck = os.path.join(out_dir, 'model_best.pth.tar')
    folder = os.path.join(mosaic_data, 'test')
    run_script(['infer.py', folder, '--checkpoint', ck, '--output', str(tmp_path / 'p.csv'), '-j', '0'])
    preds = pd.read_csv(tmp_path / 'p.csv')
    model, config, _ = load_model_from_checkpoint(ck)
    model.eval()
    from timm.data import create_transform
    dc = config['data_config']
    tf = create_transform(tuple(dc['input_size']), interpolation=dc['interpolation'], mean=tuple(dc['mean']),
                          std=tuple(dc['std']), crop_pct=dc['crop_pct'])
    img = Image.open(os.path.join(folder, preds.path[3])).convert('RGB')
    with torch.no_grad():
        ref = model(tf(img).unsqueeze(0)).sigmoid()[0].numpy()
    got = preds.iloc[3][[f'score_{c}' for c in config['classes']]].to_numpy(dtype=np.float32)
    assert np.allclose(got, ref, atol=1e-5)


def test_onnx_parity(trained, tmp_path):
    ort = pytest.importorskip('onnxruntime')
    out_dir, _ = trained
    ck = os.path.join(out_dir, 'model_best.pth.tar')
    run_script(['infer.py', '--checkpoint', ck, '--export', 'onnx', '--output', str(tmp_path / 'm.onnx')])
    model, config, _ = load_model_from_checkpoint(ck)
    x = torch.randn(4, *config['data_config']['input_size'])
    with torch.no_grad():
        ref = model.eval()(x).sigmoid().numpy()
    sess = ort.InferenceSession(str(tmp_path / 'm.onnx'), providers=['CPUExecutionProvider'])
    got = sess.run(['scores'], {'input': x.numpy()})[0]
    assert got.shape == (4, 10) and np.abs(got - ref).max() < 1e-4


def test_plot_png_from_summaries(trained, tmp_path):
    out_dir, _ = trained
    from timm_ml.plot import plot_summaries
    summary = os.path.join(out_dir, 'summary.csv')
    png = plot_summaries([summary, summary], str(tmp_path / 'c.png'))
    img = Image.open(png)
    assert img.format == 'PNG' and img.size[0] > 2 * img.size[1]
    run_script(['-m', 'timm_ml.plot', summary, '--out', str(tmp_path / 'named.png')])
    assert os.path.isfile(tmp_path / 'named.png')
    assert not os.path.exists(os.path.join(out_dir, 'curves.png'))  # nothing written into the run unless asked
