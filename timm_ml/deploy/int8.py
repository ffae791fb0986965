""" INT8 OpenVINO models: NNCF post-training quantisation of the float IR on a calibration subset of the training
split, the float and INT8 models validated side by side on one split, and their speed measured with OpenVINO's own
benchmark_app in one run.

    infer.py --checkpoint CK --export openvino --int8 --output model.xml [--calibration-size 300] [--split val]
"""
import json
import os
import re
import shutil
import subprocess
from typing import Dict, List, Sequence

import numpy as np
import torch

from timm_ml.image import decode_image
from timm_ml.metrics import compute_multilabel_metrics
from timm_ml.schema import LabelSchema

from timm_ml.utils.writer import write_text

from .export import METADATA_KEY, save_openvino
from .onnx_model import OpenVinoMultiLabelModel


def quantize_int8(float_xml: str, images: Sequence[str], out_xml: str) -> str:
    """Quantise `float_xml` with NNCF on `images` (the same preprocessing as inference); the timm_ml metadata rides
    along in the rt_info."""
    import nncf  # deploy extra
    import openvino as ov  # deploy extra
    reader = OpenVinoMultiLabelModel(float_xml)
    model = ov.Core().read_model(float_xml)
    dataset = nncf.Dataset(list(images), lambda path: reader.preprocess(decode_image(path))[None])
    quantized = nncf.quantize(model, dataset, subset_size=len(images))
    quantized.set_rt_info(json.dumps(reader.meta), ['model_info', METADATA_KEY])
    return save_openvino(quantized, out_xml, '--int8 output')


def ir_scores(xml: str, paths: Sequence[str], batch_size: int = 32) -> np.ndarray:
    model = OpenVinoMultiLabelModel(xml)
    return np.concatenate([model.scores(list(paths[i:i + batch_size])) for i in range(0, len(paths), batch_size)])


def metrics_of_scores(scores: np.ndarray, targets: np.ndarray, meta: dict, topk: int = 3) -> Dict[str, float]:
    """The evaluator's summary of exported scores (softmax per group, sigmoid elsewhere), through the same metric
    code as validate.py: scores go back to the logits that give them."""
    schema = LabelSchema.from_dict(meta['schema'])
    p = torch.from_numpy(scores.astype(np.float64)).clamp(1e-12, 1 - 1e-12)
    logits = torch.log(p) - torch.log1p(-p)
    for g in schema.groups:
        logits[:, g.start:g.end] = torch.log(p[:, g.start:g.end])
    thresholds = None if meta.get('thresholds') is None else torch.tensor(meta['thresholds'])
    result = compute_multilabel_metrics(logits.float(), torch.from_numpy(targets.astype(np.int8)), schema,
                                        thresholds=thresholds, topk=topk)
    return dict(result.summary)


def benchmark_throughput(xml: str, seconds: int = 10, batch: int = 1) -> float:
    """Images per second of benchmark_app (OpenVINO's benchmark) on the CPU, throughput mode."""
    tool = shutil.which('benchmark_app')
    if tool is None:
        raise RuntimeError('benchmark_app not found (it comes with the openvino package)')
    proc = subprocess.run([tool, '-m', xml, '-d', 'CPU', '-t', str(seconds), '-b', str(batch), '-hint', 'throughput',
                           '-infer_precision', 'f32'],  # the float model in float32, not the CPU's bf16 default
                          capture_output=True, text=True, check=True)
    found = re.search(r'Throughput:\s*([\d.]+)\s*FPS', proc.stdout)
    if not found:
        raise RuntimeError(f'benchmark_app printed no throughput:\n{proc.stdout[-1500:]}')
    return float(found.group(1))


def compare(float_xml: str, int8_xml: str, paths: List[str], targets: np.ndarray, seconds: int = 10) -> dict:
    """mAP (and the other summary metrics) of the float and the INT8 model on the same images, and their speed."""
    meta = OpenVinoMultiLabelModel(float_xml).meta
    out = dict(float=metrics_of_scores(ir_scores(float_xml, paths), targets, meta),
               int8=metrics_of_scores(ir_scores(int8_xml, paths), targets, meta))
    if seconds:
        out['float_fps'] = benchmark_throughput(float_xml, seconds)
        out['int8_fps'] = benchmark_throughput(int8_xml, seconds)
        out['speedup'] = out['int8_fps'] / out['float_fps']
    return out


def export_int8(float_xml: str, out_xml: str, run, calibration_size: int = 300, benchmark_seconds: int = 10) -> dict:
    """ infer.py --export openvino --int8: calibrate on a seeded subset of the checkpoint's training split, quantise,
    then validate the float and INT8 models on one split and time both; prints the comparison and writes it beside
    the model as <out>.json.

    Args:
        float_xml: The float IR. out_xml: The INT8 IR to write.
        run: The checkpoint's CheckpointRun (timm_ml.builder): its splits read as training read them (run.root /
            run.split: --data / --split or the checkpoint's).
        calibration_size: Training images to calibrate on (a seeded choice).
        benchmark_seconds: Seconds of OpenVINO benchmark_app per model (0: no speed measurement).
    """
    train = run.read_labels(run.data.get('train_split') or 'train')
    if getattr(train, 'streamed', False):
        raise ValueError('--int8 calibrates on the training images of a folder; streamed shards are not read here')
    picked = np.sort(np.random.default_rng(0).choice(len(train), min(calibration_size, len(train)), replace=False))
    quantize_int8(float_xml, [os.path.join(train.root, train.paths[i]) for i in picked], out_xml)
    labels = run.read_labels()
    paths = [os.path.join(labels.root, p) for p in labels.paths]
    result = compare(float_xml, out_xml, paths, labels.targets.dense(), seconds=benchmark_seconds)
    result.update(split=labels.split, images=len(paths), calibration_images=len(picked),
                  calibration_split=train.split, benchmark_seconds=benchmark_seconds)
    write_text(os.path.splitext(out_xml)[0] + '.json', json.dumps(result, indent=2), '--int8 comparison',
               kinds=('int8-comparison',))
    print(f'wrote {out_xml} (NNCF INT8, calibrated on {len(picked)} images of {train.split!r})')
    for key in [k for k in ('map', 'CF1', 'OF1', 'thr_CF1', 'attr_mean_acc') if k in result['float']]:
        a, b = result['float'][key], result['int8'][key]
        print(f'  {key:14s} float {a:7.2f}  INT8 {b:7.2f}  change {b - a:+.2f}  ({labels.split}, {len(paths)} images)')
    if 'speedup' in result:
        print(f'  throughput     float {result["float_fps"]:7.1f}  INT8 {result["int8_fps"]:7.1f} images/s  '
              f'speed-up {result["speedup"]:.2f}x (benchmark_app, {benchmark_seconds} s each, this CPU)')
    return result
