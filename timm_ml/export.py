""" Self-describing exports: ONNX (and OpenVINO IR) whose metadata carries class names, per-class thresholds,
attribute groups and preprocessing, with an output of scores (sigmoid, or softmax per attribute group).

A deployment needs nothing else: `timm_ml.deploy.onnx_predict` turns such a file into predictions with ONNX Runtime,
numpy and Pillow alone.
"""
import json

import torch
import torch.nn as nn

from timm_ml.models import scores_from_logits

METADATA_KEY = 'timm_ml'


class ScoresModel(nn.Module):
    """Wraps a multi-label model so the exported graph outputs class scores."""

    def __init__(self, model, group_sizes=None):
        super().__init__()
        self.model = model
        self.group_sizes = list(group_sizes) if group_sizes else None

    def forward(self, x):
        return scores_from_logits(self.model(x), self.group_sizes)


def export_metadata(config) -> dict:
    """What a deployment needs to turn images into labels, from a checkpoint's ml_config."""
    dc = config['data_config']
    groups = None
    if config.get('group_sizes'):
        groups = [dict(name=name, size=size) for name, size in zip(config['attribute_names'], config['group_sizes'])]
    return dict(
        format_version=1,
        model=config['model'],
        head=config['ml_head'],
        classes=list(config['classes']),
        thresholds=[float(t) for t in config['thresholds']] if config.get('thresholds') is not None else None,
        default_threshold=0.5,
        attribute_groups=groups,
        output='softmax per attribute group' if groups else 'sigmoid per class',
        preprocessing=dict(input_size=list(dc['input_size']), mean=list(dc['mean']), std=list(dc['std']),
                           interpolation=dc['interpolation'], crop_pct=dc['crop_pct'],
                           crop_mode=dc.get('crop_mode') or 'center', channel_order='RGB', layout='NCHW',
                           scale='pixel / 255, then (x - mean) / std'),
    )


def export_onnx(model, config, path, opset: int = 17, batch_size: int = 1):
    """Export `model` (eval mode) to `path`; input 'input' (B, C, H, W) with a dynamic batch, output 'scores';
    metadata_props['timm_ml'] holds export_metadata(config) as JSON."""
    import onnx
    wrapped = ScoresModel(model, config.get('group_sizes')).eval()
    example = torch.randn(batch_size, *config['data_config']['input_size'])
    torch.onnx.export(
        wrapped, (example,), path, input_names=['input'], output_names=['scores'], opset_version=opset,
        dynamic_axes={'input': {0: 'batch'}, 'scores': {0: 'batch'}}, dynamo=False)
    graph = onnx.load(path)
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(export_metadata(config))
    onnx.save(graph, path)
    return path


def export_openvino(onnx_path: str, xml_path: str, config):
    """OpenVINO IR (.xml + .bin) from the ONNX export, the same metadata in its rt_info."""
    import openvino as ov
    ov_model = ov.convert_model(onnx_path)
    ov_model.set_rt_info(json.dumps(export_metadata(config)), ['model_info', METADATA_KEY])
    ov.save_model(ov_model, xml_path, compress_to_fp16=False)  # the default halves the weights: keep parity
    return xml_path
