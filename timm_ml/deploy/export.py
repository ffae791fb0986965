""" Self-describing exports: ONNX (and OpenVINO IR) whose metadata carries the label schema (classes, exclusive
groups, tree, multi-label block), the per-class thresholds and the preprocessing, with an output of scores from the one
scoring function (softmax per exclusive group, sigmoid elsewhere).

A deployment needs nothing else: `timm_ml.deploy.OnnxMultiLabelModel` turns such a file into predictions with ONNX
Runtime, numpy and Pillow alone, decoding with the same timm_ml.schema.decode as infer.py.
"""
import json

import torch
import torch.nn as nn

from timm_ml.image import BACKGROUND
from timm_ml.recipes import scoring_schema
from timm_ml.scoring import scores_from_logits

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


def export_onnx(model, config, path, opset: int = 17, batch_size: int = 1):
    """Export `model` (eval mode) to `path`; input 'input' (B, C, H, W) with a dynamic batch, output 'scores';
    metadata_props['timm_ml'] holds export_metadata(config) as JSON."""
    import onnx
    meta = export_metadata(config)
    wrapped = ScoresModel(model, scoring_schema(config)).eval()
    example = torch.randn(batch_size, *config['data_config']['input_size'])
    torch.onnx.export(
        wrapped, (example,), path, input_names=['input'], output_names=['scores'], opset_version=opset,
        dynamic_axes={'input': {0: 'batch'}, 'scores': {0: 'batch'}}, dynamo=False)
    graph = onnx.load(path)
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.save(graph, path)
    return path


def export_openvino(onnx_path: str, xml_path: str, config):
    """OpenVINO IR (.xml + .bin) from the ONNX export, the same metadata in its rt_info."""
    import openvino as ov
    ov_model = ov.convert_model(onnx_path)
    ov_model.set_rt_info(json.dumps(export_metadata(config)), ['model_info', METADATA_KEY])
    ov.save_model(ov_model, xml_path, compress_to_fp16=False)  # the default halves the weights: keep parity
    return xml_path
