""" Deployment and tracking: self-describing ONNX / OpenVINO exports and a torch-free reader, infer.py output formats,
TensorBoard and offline wandb logs, the per-class report."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT, TINY, run_script

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def exported(trained, mosaic_data, tmp_path_factory):
    """Thresholds estimated on val, then the checkpoint holding them exported to ONNX and OpenVINO."""
    out_dir, _ = trained
    tmp = tmp_path_factory.mktemp('export')
    run_script(['validate.py', mosaic_data, '--checkpoint', os.path.join(out_dir, 'model_best.pth.tar'), '-j', '0',
                '--estimate-thresholds'])
    ck = os.path.join(out_dir, 'model_best_thresholds.pth.tar')
    run_script(['infer.py', '--checkpoint', ck, '--export', 'onnx', '--output', str(tmp / 'model.onnx')])
    return ck, str(tmp)


def test_onnx_file_alone_reproduces_infer(exported, mosaic_data):
    ck, tmp = exported
    folder = os.path.join(mosaic_data, 'test')
    run_script(['infer.py', folder, '--checkpoint', ck, '--output', os.path.join(tmp, 'p.csv'), '-j', '0'])
    expected = pd.read_csv(os.path.join(tmp, 'p.csv'))
    # the reader in a process where torch cannot be imported
    script = (
        "import sys, json; sys.modules['torch'] = None; sys.modules['timm'] = None\n"
        "from timm_ml.deploy.onnx_predict import OnnxMultiLabelModel\n"
        f"m = OnnxMultiLabelModel({os.path.join(tmp, 'model.onnx')!r})\n"
        f"paths = [{folder!r} + '/' + p for p in json.loads(sys.argv[1])]\n"
        "print(json.dumps(dict(classes=m.classes, thresholds=m.thresholds.tolist(), scores=m.scores(paths).tolist(), "
        "labels=[p['labels'] for p in m.predict(paths)])))\n")
    proc = subprocess.run([sys.executable, '-c', script, json.dumps(list(expected.path))], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    got = json.loads(proc.stdout)
    from timm_ml.utils import load_checkpoint_file, read_ml_config
    config = read_ml_config(load_checkpoint_file(ck))
    assert got['classes'] == config['classes']
    assert np.allclose(got['thresholds'], config['thresholds'], atol=1e-7)
    ref = expected[[f'score_{c}' for c in config['classes']]].to_numpy(np.float32)
    assert np.abs(np.asarray(got['scores']) - ref).max() < 1e-4
    assert [';'.join(x) for x in got['labels']] == expected['labels'].fillna('').tolist()


def test_openvino_export_matches_onnx_runtime(exported, mosaic_data):
    ov = pytest.importorskip('openvino')
    ck, tmp = exported
    run_script(['infer.py', '--checkpoint', ck, '--export', 'openvino', '--output', os.path.join(tmp, 'ov.xml')])
    from timm_ml.deploy.onnx_predict import OnnxMultiLabelModel
    onnx_model = OnnxMultiLabelModel(os.path.join(tmp, 'ov.onnx'))
    folder = os.path.join(mosaic_data, 'test')
    batch = np.stack([onnx_model.preprocess(__import__('PIL.Image').Image.open(os.path.join(folder, f)))
                      for f in sorted(os.listdir(folder))[:16]])
    core = ov.Core()
    model = core.read_model(os.path.join(tmp, 'ov.xml'))
    meta = json.loads(model.get_rt_info(['model_info', 'timm_ml']).astype(str))
    assert meta['classes'] == onnx_model.classes and meta['thresholds'] == onnx_model.meta['thresholds']
    compiled = core.compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    got = compiled(batch)[compiled.output(0)]
    ref = onnx_model.session.run(['scores'], {'input': batch})[0]
    assert np.abs(got - ref).max() < 1e-4


def test_infer_json_and_jsonl_formats(exported, mosaic_data):
    ck, tmp = exported
    val = os.path.join(mosaic_data, 'val.json')
    for fmt in ('csv', 'json', 'jsonl'):
        run_script(['infer.py', val, '--checkpoint', ck, '--output', os.path.join(tmp, f'p.{fmt}'), '-j', '0'])
    table = pd.read_csv(os.path.join(tmp, 'p.csv'))
    doc = json.load(open(os.path.join(tmp, 'p.json')))
    lines = [json.loads(line) for line in open(os.path.join(tmp, 'p.jsonl'))]
    assert len(doc['predictions']) == len(lines) == len(table) == 97
    assert doc['predictions'] == lines
    assert [';'.join(r['labels']) for r in lines] == table['labels'].fillna('').tolist()
    c = doc['classes'][0]
    assert np.allclose([r['scores'][c] for r in lines], table[f'score_{c}'], atol=1e-6)


def test_tensorboard_and_offline_wandb_logs(mosaic_data, tmp_path):
    pytest.importorskip('wandb')
    pytest.importorskip('tensorboard')
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '2', '--log-tensorboard', '--log-wandb',
                '--wandb-project', 'timm_ml_test', '--output', str(tmp_path), '--experiment', 't'],
               env={'WANDB_MODE': 'offline', 'WANDB_DIR': str(tmp_path), 'WANDB_SILENT': 'true'})
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / 't' / 'tensorboard'))
    events.Reload()
    summary = pd.read_csv(tmp_path / 't' / 'summary.csv')
    logged_map = [e.value for e in events.Scalars('eval/map')]
    assert np.allclose(logged_map, summary.eval_map, atol=1e-4)
    assert np.allclose([e.value for e in events.Scalars('lr')], summary.lr)
    per_class = [t for t in events.Tags()['scalars'] if t.startswith('per_class_ap/')]
    assert len(per_class) == 10
    runs = [d for d in os.listdir(tmp_path / 'wandb') if d.startswith('offline-run-')]
    assert len(runs) == 1 and any(f.endswith('.wandb') for f in os.listdir(tmp_path / 'wandb' / runs[0]))


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
