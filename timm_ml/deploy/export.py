""" Self-describing exports: ONNX (and OpenVINO IR) whose metadata carries the label schema (classes, exclusive
groups, tree, multi-label block), the per-class thresholds and the preprocessing, with an output of scores from the one
scoring function (softmax per exclusive group, sigmoid elsewhere).

A deployment needs nothing else: `timm_ml.deploy.OnnxMultiLabelModel` turns such a file into predictions with ONNX
Runtime, numpy and Pillow alone, decoding with the same timm_ml.schema.decode as infer.py.
"""
import json
import os
import shutil
import tempfile

import torch
import torch.nn as nn

from timm_ml.image import BACKGROUND
from timm_ml.recipes import scoring_schema
from timm_ml.scoring import scores_from_logits
from timm_ml.utils.writer import check_writable, write_file

METADATA_KEY = 'timm_ml'
FORMAT_VERSION = 2


class ScoresModel(nn.Module):
    """Wraps a multi-label model so the exported graph outputs class scores."""

    def __init__(self, model, schema=None):
        super().__init__()
        self.model = model
        self.schema = schema

    def forward(self, x):
        return scores_from_logits(self.model(x), self.schema)


def export_metadata(config) -> dict:
    """What a deployment needs to turn images into labels, from a checkpoint's ml_config."""
    dc = config['data_config']
    schema = scoring_schema(config)
    thresholds = config.get('thresholds')
    if thresholds is not None and len(thresholds) != schema.num_classes:
        raise ValueError(f'{len(thresholds)} thresholds for {schema.num_classes} classes in the checkpoint')
    return dict(
        format_version=FORMAT_VERSION,
        model=config['model'],
        head=config['ml_head'],
        classes=list(schema.classes),
        schema=schema.to_dict(),
        thresholds=[float(t) for t in thresholds] if thresholds is not None else None,
        default_threshold=0.5,
        attribute_groups=[dict(name=g.name, size=len(g.values), start=g.start, parent=g.parent)
                          for g in schema.groups] or None,
        output='softmax per exclusive group, sigmoid per other class' if schema.groups else 'sigmoid per class',
        preprocessing=dict(input_size=list(dc['input_size']), mean=list(dc['mean']), std=list(dc['std']),
                           interpolation=dc['interpolation'], crop_pct=dc['crop_pct'],
                           crop_mode=dc.get('crop_mode') or 'center', channel_order='RGB', layout='NCHW',
                           scale='pixel / 255, then (x - mean) / std',
                           decode='EXIF orientation applied; transparency composited on '
                                  f'rgb{BACKGROUND}; 16-bit greyscale scaled to 8 bits (timm_ml.image)'),
    )


def export_onnx(model, config, path, opset: int = 17, batch_size: int = 1, flag: str = '--output'):
    """Export `model` (eval mode) to `path`; input 'input' (B, C, H, W) with a dynamic batch, output 'scores';
    metadata_props['timm_ml'] holds export_metadata(config) as JSON. The file appears whole, metadata included (the
    one output writer: an earlier export of ours is replaced, any other file refused)."""
    import onnx  # deploy extra
    meta = export_metadata(config)
    wrapped = ScoresModel(model, scoring_schema(config)).eval()
    example = torch.randn(batch_size, *config['data_config']['input_size'])

    def write(tmp):
        torch.onnx.export(
            wrapped, (example,), tmp, input_names=['input'], output_names=['scores'], opset_version=opset,
            dynamic_axes={'input': {0: 'batch'}, 'scores': {0: 'batch'}}, dynamo=False)
        graph = onnx.load(tmp)
        entry = graph.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(meta)
        onnx.save(graph, tmp)
    return write_file(path, write, flag, kinds=('onnx',))


def save_openvino(ov_model, xml_path: str, flag: str = '--output'):
    """An OpenVINO IR (.xml + .bin) written whole: both into temp files beside them, then the weights and the model
    renamed into place; each replaces only an earlier export of ours."""
    import openvino as ov  # deploy extra
    bin_path = xml_path[:-len('.xml')] + '.bin' if xml_path.endswith('.xml') else xml_path + '.bin'
    check_writable(bin_path, flag, kinds=('openvino-weights',))
    check_writable(xml_path, flag, kinds=('openvino',))
    folder = os.path.dirname(os.path.abspath(xml_path))
    tmp_dir = tempfile.mkdtemp(prefix='.openvino.', dir=folder)
    try:
        tmp_xml = os.path.join(tmp_dir, 'model.xml')
        ov.save_model(ov_model, tmp_xml, compress_to_fp16=False)  # the default halves the weights: keep parity
        write_file(bin_path, lambda tmp: shutil.move(os.path.join(tmp_dir, 'model.bin'), tmp), flag,
                   kinds=('openvino-weights',))
        write_file(xml_path, lambda tmp: shutil.move(tmp_xml, tmp), flag, kinds=('openvino',))
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return xml_path


def export_openvino(onnx_path: str, xml_path: str, config, flag: str = '--output'):
    """OpenVINO IR (.xml + .bin) from the ONNX export, the same metadata in its rt_info."""
    import openvino as ov  # deploy extra
    ov_model = ov.convert_model(onnx_path)
    ov_model.set_rt_info(json.dumps(export_metadata(config)), ['model_info', METADATA_KEY])
    return save_openvino(ov_model, xml_path, flag)
