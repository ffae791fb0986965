""" ONNX export with score outputs (sigmoid, or softmax per attribute group)."""
import torch
import torch.nn as nn

from timm_ml.models import scores_from_logits


class ScoresModel(nn.Module):
    """Wraps a MultiLabelModel so the exported graph outputs class scores."""

    def __init__(self, model, group_sizes=None):
        super().__init__()
        self.model = model
        self.group_sizes = list(group_sizes) if group_sizes else None

    def forward(self, x):
        return scores_from_logits(self.model(x), self.group_sizes)


def export_onnx(model, config, path, opset: int = 17, batch_size: int = 1):
    """Export `model` (eval mode) to `path`; input 'input' (B, C, H, W) with a dynamic batch, output 'scores'."""
    wrapped = ScoresModel(model, config.get('group_sizes')).eval()
    example = torch.randn(batch_size, *config['data_config']['input_size'])
    torch.onnx.export(
        wrapped, (example,), path, input_names=['input'], output_names=['scores'], opset_version=opset,
        dynamic_axes={'input': {0: 'batch'}, 'scores': {0: 'batch'}}, dynamo=False)
    return path
