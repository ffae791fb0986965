""" infer.py end to end (slow tier): thresholds, scores equal the model's, exports, output formats, bad images."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.helpers import ROOT, TINY, run_script
from timm_ml.models import load_model_from_checkpoint
from timm_ml.utils.checkpoint_io import load_checkpoint_file, read_ml_config

pytestmark = pytest.mark.slow


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


def _awkward_images(folder, source):
    """Copies of a test image as a viewer would show them differently from PIL's defaults: 16-bit greyscale,
    transparent RGBA, a palette with a transparent colour, a JPEG stored sideways with an EXIF orientation."""
    img = Image.open(source).convert('RGB')
    grey = (np.asarray(img.convert('L'), np.uint16) * 257)
    Image.fromarray(grey).save(os.path.join(folder, 'zz_16bit.png'))
    rgba = np.dstack([np.asarray(img), np.where(np.asarray(img.convert('L')) > 128, 255, 0).astype(np.uint8)])
    Image.fromarray(rgba, 'RGBA').save(os.path.join(folder, 'zz_rgba.png'))
    img.convert('P', palette=Image.ADAPTIVE, colors=16).save(os.path.join(folder, 'zz_palette.png'), transparency=0)
    exif = img.getexif()
    exif[0x0112] = 8
    img.rotate(-90, expand=True).save(os.path.join(folder, 'zz_exif.jpg'), exif=exif, quality=95)


def test_onnx_file_alone_reproduces_infer(exported, mosaic_data, tmp_path):
    ck, tmp = exported
    folder = str(tmp_path / 'images')
    shutil.copytree(os.path.join(mosaic_data, 'test'), folder)
    _awkward_images(folder, os.path.join(folder, sorted(os.listdir(folder))[0]))
    run_script(['infer.py', folder, '--checkpoint', ck, '--output', os.path.join(tmp, 'p.csv'), '-j', '0'])
    expected = pd.read_csv(os.path.join(tmp, 'p.csv'))
    # the reader from another folder, in a process where torch and timm cannot be imported
    script = (
        "import sys, json; sys.modules['torch'] = None; sys.modules['timm'] = None\n"
        "from timm_ml.deploy import OnnxMultiLabelModel\n"
        f"m = OnnxMultiLabelModel({os.path.join(tmp, 'model.onnx')!r})\n"
        f"paths = [{folder!r} + '/' + p for p in json.loads(sys.argv[1])]\n"
        "print(json.dumps(dict(classes=m.classes, thresholds=m.thresholds.tolist(), scores=m.scores(paths).tolist(), "
        "labels=[p['labels'] for p in m.predict(paths)])))\n")
    proc = subprocess.run([sys.executable, '-c', script, json.dumps(list(expected.path))], cwd=str(tmp_path),
                          capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    got = json.loads(proc.stdout)
    from timm_ml.utils.checkpoint_io import load_checkpoint_file, read_ml_config
    config = read_ml_config(load_checkpoint_file(ck))
    assert got['classes'] == config['classes']
    assert np.allclose(got['thresholds'], config['thresholds'], atol=1e-7)
    ref = expected[[f'score_{c}' for c in config['classes']]].to_numpy(np.float32)
    assert np.abs(np.asarray(got['scores']) - ref).max() < 1e-4  # 16-bit, alpha, palette and EXIF images included
    assert len(expected) == 68
    # its command line takes the folder and writes infer.py's CSV
    subprocess.run([sys.executable, '-m', 'timm_ml.deploy.onnx_predict', os.path.join(tmp, 'model.onnx'), folder,
                    '--output', 'onnx.csv'], cwd=str(tmp_path), check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    cli = pd.read_csv(tmp_path / 'onnx.csv')
    assert [os.path.relpath(p, folder) for p in cli.path] == list(expected.path)
    assert np.abs(cli[[f'score_{c}' for c in config['classes']]].to_numpy(np.float32) - ref).max() < 1e-4
    assert cli['labels'].fillna('').tolist() == expected['labels'].fillna('').tolist()
    assert [';'.join(x) for x in got['labels']] == expected['labels'].fillna('').tolist()


def test_onnx_predict_never_overwrites_its_model_or_images_and_names_a_bad_image(exported, mosaic_data, tmp_path):
    ck, tmp = exported
    model = os.path.join(tmp, 'model.onnx')
    image = tmp_path / 'a.png'
    shutil.copy(os.path.join(mosaic_data, 'test', sorted(os.listdir(os.path.join(mosaic_data, 'test')))[0]), image)
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    for output in (model, str(image)):
        before = open(output, 'rb').read()
        proc = subprocess.run([sys.executable, '-m', 'timm_ml.deploy.onnx_predict', model, str(image), '--output',
                               output], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 2 and 'that is the model, an input image or a folder' in proc.stderr
        assert open(output, 'rb').read() == before
    proc = subprocess.run([sys.executable, '-m', 'timm_ml.deploy.onnx_predict', model, str(image),
                           str(tmp_path / 'broken.png')], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and f'cannot read image {tmp_path / "broken.png"}' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_openvino_export_matches_onnx_runtime(exported, mosaic_data):
    ov = pytest.importorskip('openvino')
    ck, tmp = exported
    run_script(['infer.py', '--checkpoint', ck, '--export', 'openvino', '--output', os.path.join(tmp, 'ov.xml')])
    assert sorted(f for f in os.listdir(tmp) if f.startswith('ov.')) == ['ov.bin', 'ov.xml']  # only what was named
    from timm_ml.deploy.onnx_predict import OnnxMultiLabelModel
    onnx_model = OnnxMultiLabelModel(os.path.join(tmp, 'model.onnx'))  # the same checkpoint's ONNX export
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


def test_int8_openvino_export_validates_beside_the_float_model(exported, mosaic_data, tmp_path):
    pytest.importorskip('nncf')
    ck, tmp = exported
    proc = run_script(['infer.py', '--checkpoint', ck, '--export', 'openvino', '--int8', '--calibration-size', '64',
                       '--benchmark-seconds', '2', '--output', str(tmp_path / 'm.xml')])
    report = json.load(open(tmp_path / 'm_int8.json'))
    assert report['calibration_images'] == 64 and report['images'] == 97
    run_script(['validate.py', mosaic_data, '--checkpoint', ck, '-j', '0', '--results-file', str(tmp_path / 'v.json')])
    validated = json.load(open(tmp_path / 'v.json'))
    assert abs(report['float']['map'] - validated['map']) < 0.05  # the float IR is the checkpoint
    assert abs(report['int8']['map'] - report['float']['map']) < 5  # a small drop, printed
    assert report['float_fps'] > 0 and report['int8_fps'] > 0
    assert f"map            float {report['float']['map']:7.2f}  INT8 {report['int8']['map']:7.2f}" in proc.stdout
    from timm_ml.deploy import OpenVinoMultiLabelModel
    int8 = OpenVinoMultiLabelModel(str(tmp_path / 'm_int8.xml'))  # the metadata rides along
    assert int8.classes == validated_classes(ck) and int8.meta['thresholds'] is not None


def validated_classes(ck):
    return read_ml_config(load_checkpoint_file(ck))['classes']


def test_hf_folder_of_a_trained_run_reproduces_infer_with_stock_timm(exported, mosaic_data, tmp_path):
    ck, tmp = exported
    run_script(['validate.py', mosaic_data, '--checkpoint', ck, '-j', '0', '--split', 'test', '--results-file',
                str(tmp_path / 'test.json')])
    run_script(['infer.py', '--checkpoint', ck, '--export', 'hf', '--output', str(tmp_path / 'hf'), '--results',
                str(tmp_path / 'test.json')])
    card = open(tmp_path / 'hf' / 'README.md').read()
    test_map = json.load(open(tmp_path / 'test.json'))['map']
    assert f'| map | {test_map:.2f} |' in card and '## Per class' in card and 'python train.py' in card
    run_script(['infer.py', os.path.join(mosaic_data, 'test.json'), '--checkpoint', ck, '--output',
                str(tmp_path / 'p.csv'), '-j', '0'])
    expected = pd.read_csv(tmp_path / 'p.csv')
    script = ("import json, sys, timm, torch\n"
              f"m = timm.create_model('local-dir:{tmp_path / 'hf'}', pretrained=True).eval()\n"
              "cfg = timm.data.resolve_data_config({}, model=m)\n"
              "t = timm.data.create_transform(**cfg)\n"
              "from PIL import Image\n"
              f"paths = [{mosaic_data!r} + '/' + p for p in json.loads(sys.argv[1])]\n"
              "x = torch.stack([t(Image.open(p).convert('RGB')) for p in paths])\n"
              "print(json.dumps(m(x).sigmoid().tolist()))\n")
    proc = subprocess.run([sys.executable, '-c', script, json.dumps(list(expected.path))], cwd=str(tmp_path),
                          capture_output=True, text=True, check=True, env=dict(os.environ, HF_HUB_OFFLINE='1'))
    got = np.asarray(json.loads(proc.stdout))
    classes = validated_classes(ck)
    assert np.abs(got - expected[[f'score_{c}' for c in classes]].to_numpy()).max() < 1e-4


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
