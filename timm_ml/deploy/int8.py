""" INT8 OpenVINO models: NNCF post-training quantisation of the float IR on a calibration subset of the training
split, the float and INT8 models validated side by side on one split, and their speed measured with OpenVINO's own
benchmark_app in one run.

    infer.py --checkpoint CK --export openvino --int8 --output model.xml [--calibration-size 300] [--split val]
"""
import json
import re
import shutil
import subprocess
from typing import Dict, List, Sequence

import numpy as np

from timm_ml.image import decode_image

from .export import METADATA_KEY
from .onnx_model import OpenVinoMultiLabelModel


def quantize_int8(float_xml: str, images: Sequence[str], out_xml: str) -> str:
    """Quantise `float_xml` with NNCF on `images` (the same preprocessing as inference); the timm_ml metadata rides
    along in the rt_info."""
    import nncf
    import openvino as ov
    reader = OpenVinoMultiLabelModel(float_xml)
    model = ov.Core().read_model(float_xml)
    dataset = nncf.Dataset(list(images), lambda path: reader.preprocess(decode_image(path))[None])
    quantized = nncf.quantize(model, dataset, subset_size=len(images))
    quantized.set_rt_info(json.dumps(reader.meta), ['model_info', METADATA_KEY])
    ov.save_model(quantized, out_xml)
    return out_xml


def ir_scores(xml: str, paths: Sequence[str], batch_size: int = 32) -> np.ndarray:
    model = OpenVinoMultiLabelModel(xml)
    return np.concatenate([model.scores(list(paths[i:i + batch_size])) for i in range(0, len(paths), batch_size)])


def metrics_of_scores(scores: np.ndarray, targets: np.ndarray, meta: dict, topk: int = 3) -> Dict[str, float]:
    """The evaluator's summary of exported scores (softmax per group, sigmoid elsewhere), through the same metric
    code as validate.py: scores go back to the logits that give them."""
    import torch
    from timm_ml.metrics import compute_multilabel_metrics
    from timm_ml.schema import LabelSchema
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
    proc = subprocess.run([tool, '-m', xml, '-d', 'CPU', '-t', str(seconds), '-b', str(batch), '-hint', 'throughput'],
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
