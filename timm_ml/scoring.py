""" The one scoring function: logits -> scores, a softmax per exclusive group and a sigmoid per multi-label column.

Thresholds, metrics, infer.py, the ONNX / OpenVINO exports (the exported graph computes it) and therefore the
torch-free reader all score with it.
"""
from typing import List, Optional, Tuple

import torch

from .schema import LabelSchema


def _segments(schema: LabelSchema) -> List[Tuple[int, int, bool]]:
    """(start, end, is_group) pieces covering every column in order."""
    pieces, pos = [], 0
    for g in sorted(schema.groups, key=lambda g: g.start):
        if g.start > pos:
            pieces.append((pos, g.start, False))
        pieces.append((g.start, g.end, True))
        pos = g.end
    if pos < schema.num_classes:
        pieces.append((pos, schema.num_classes, False))
    return pieces


def scores_from_logits(logits: torch.Tensor, schema: Optional[LabelSchema] = None) -> torch.Tensor:
    """(N, C) float32 scores of (N, C) logits under `schema` (None or no groups: sigmoid everywhere)."""
    logits = logits.float()
    if schema is None or not schema.groups:
        return logits.sigmoid()
    return torch.cat([logits[:, s:e].softmax(-1) if is_group else logits[:, s:e].sigmoid()
                      for s, e, is_group in _segments(schema)], dim=-1)
