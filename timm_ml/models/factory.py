""" Model factory: timm backbone + multi-label head, rebuilt from a checkpoint alone."""
import logging
from typing import Any, Dict, List, Optional, Sequence

import timm
import torch
import torch.nn as nn

from .backbone import Backbone
from .heads import AttributeHead, CosineHead, LinearHead
from .ml_decoder import MLDecoderHead

_logger = logging.getLogger(__name__)

ML_HEADS = ('linear', 'mldecoder', 'cosine', 'attributes')


class MultiLabelModel(nn.Module):
    """ Backbone + head. Output: logits (B, C); scores come from `scores_from_logits`.

    Args:
        backbone: Truncated timm model.
        head: A head module; `head.wants_tokens` selects tokens (ML-Decoder) or pooled features.
        config: Everything needed to rebuild the model (stored in checkpoints).
    """

    def __init__(self, backbone: Backbone, head: nn.Module, config: Dict[str, Any]):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.config = config
        self.num_classes = len(config['classes'])

    @property
    def group_sizes(self) -> Optional[List[int]]:
        return getattr(self.head, 'group_sizes', None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        if self.head.wants_tokens:
            return self.head(self.backbone.tokens(features))
        return self.head(self.backbone.pool(features))

    def set_grad_checkpointing(self, enable: bool = True):
        self.backbone.model.set_grad_checkpointing(enable)


def scores_from_logits(logits: torch.Tensor, group_sizes: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Sigmoid per class, or softmax within each attribute group for attribute heads."""
    if not group_sizes:
        return logits.sigmoid()
    return torch.cat([g.softmax(-1) for g in logits.float().split(list(group_sizes), dim=-1)], dim=-1)


def _create_timm_model(model_name, pretrained, pretrained_path, timm_kwargs):
    kwargs = dict(timm_kwargs)
    if pretrained_path:
        kwargs['pretrained_cfg_overlay'] = dict(file=pretrained_path)
        pretrained = True
    try:
        return timm.create_model(model_name, pretrained=pretrained, num_classes=0, **kwargs)
    except Exception as e:
        if pretrained and not pretrained_path:
            raise RuntimeError(
                f'Could not fetch pretrained weights for {model_name!r} ({type(e).__name__}: {e}). '
                'Without network access, pass a local weights file with --pretrained-path instead of --pretrained.'
            ) from e
        raise


def create_ml_model(
        model_name: str,
        classes: Sequence[str],
        ml_head: str = 'linear',
        head_args: Optional[Dict[str, Any]] = None,
        group_sizes: Optional[Sequence[int]] = None,
        pretrained: bool = False,
        pretrained_path: Optional[str] = None,
        timm_kwargs: Optional[Dict[str, Any]] = None,
) -> MultiLabelModel:
    """ Create a multi-label model.

    Args:
        model_name: Any timm model name.
        classes: Ordered class names (recorded in the model config and in every checkpoint).
        ml_head: 'linear', 'mldecoder', 'cosine' or 'attributes'.
        head_args: Head options (mldecoder: num_groups, embed_dim, num_heads, dim_feedforward, dropout;
            cosine: scale).
        group_sizes: Values per attribute, required by the 'attributes' head.
        pretrained: Load timm's pretrained weights (needs network).
        pretrained_path: Local backbone weights (a timm / torchvision state dict); the classifier is dropped.
        timm_kwargs: Passed to timm.create_model (drop_rate, drop_path_rate, in_chans, ...).
    """
    if ml_head not in ML_HEADS:
        raise ValueError(f'Unknown --ml-head {ml_head!r}, expected one of {ML_HEADS}')
    head_args = dict(head_args or {})
    timm_kwargs = dict(timm_kwargs or {})
    num_classes = len(classes)
    backbone = Backbone(_create_timm_model(model_name, pretrained, pretrained_path, timm_kwargs))
    if ml_head == 'linear':
        head = LinearHead(backbone.head_hidden_size, num_classes)
    elif ml_head == 'cosine':
        head = CosineHead(backbone.head_hidden_size, num_classes, **head_args)
    elif ml_head == 'mldecoder':
        head = MLDecoderHead(backbone.num_features, num_classes, **head_args)
    else:
        if not group_sizes or sum(group_sizes) != num_classes:
            raise ValueError('The attributes head needs attribute groups covering all classes '
                             '(an attribute CSV as label file).')
        head = AttributeHead(backbone.head_hidden_size, group_sizes)
        head_args = {}
    config = dict(
        model=model_name,
        ml_head=ml_head,
        head_args=head_args,
        classes=list(classes),
        group_sizes=list(group_sizes) if group_sizes else None,
        timm_kwargs={k: v for k, v in timm_kwargs.items() if isinstance(v, (int, float, str, bool, type(None)))},
    )
    return MultiLabelModel(backbone, head, config)


def create_model_from_config(config: Dict[str, Any]) -> MultiLabelModel:
    return create_ml_model(
        config['model'], config['classes'], config['ml_head'], config.get('head_args'), config.get('group_sizes'),
        timm_kwargs=config.get('timm_kwargs'))
