""" Model factory: timm backbone + multi-label head, rebuilt from a checkpoint alone.

The linear head is timm's own classifier (`timm.create_model(name, num_classes=C)`), so a linear checkpoint is a stock
timm state dict that `timm.create_model(..., checkpoint_path=...)` loads. The other heads sit on a truncated backbone
(`MultiLabelModel`). Either way the model carries `ml_config`: what is needed to rebuild it (stored in checkpoints).
"""
import logging
from typing import Any, Dict, Optional

import timm
import torch
import torch.nn as nn

from timm_ml.recipes import GROUP_HEADS, ML_HEADS
from timm_ml.schema import LabelSchema

from .backbone import Backbone
from .cosine_head import CosineHead
from .gcn_head import GCNHead
from .label_embeddings import read_label_embeddings
from .label_graph import conditional_cooccurrence
from .ml_decoder import MLDecoderHead
from .pretrained import load_pretrained_file, pretrained_weights_reachable, quiet_hub
from .ssgrl_head import SSGRLHead

_logger = logging.getLogger(__name__)

GRAPH_HEADS = ('gcn', 'ssgrl')


class MultiLabelModel(nn.Module):
    """ Backbone + head. Output: logits (B, C); scores come from `scores_from_logits`.

    Args:
        backbone: Truncated timm model.
        head: A head module; `head.wants_tokens` selects tokens (ML-Decoder) or pooled features.
    """

    def __init__(self, backbone: Backbone, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unpooled backbone features (timm's forward_features)."""
        return self.backbone(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Logits from forward_features' output; pre_logits: the pooled features (timm's forward_head)."""
        if pre_logits:
            return self.backbone.pool(features)
        if self.head.wants_tokens:
            return self.head(self.backbone.tokens(features))
        return self.head(self.backbone.pool(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def set_grad_checkpointing(self, enable: bool = True):
        self.backbone.model.set_grad_checkpointing(enable)

    def get_classifier(self) -> Optional[nn.Module]:
        """The head's last linear layer (timm's --head-init-scale / --head-init-bias), None when it has none."""
        return head_classifier(self)

    @property
    def pretrained_cfg(self) -> Dict[str, Any]:
        """The backbone's timm pretrained config (input size, mean, std, ...: resolve_data_config reads it)."""
        return self.backbone.model.pretrained_cfg

    @pretrained_cfg.setter
    def pretrained_cfg(self, cfg: Dict[str, Any]):
        self.backbone.model.pretrained_cfg = cfg

    @property
    def default_cfg(self) -> Dict[str, Any]:
        return self.pretrained_cfg

    @property
    def num_classes(self) -> int:
        return len(self.ml_config['classes'])

    @property
    def in_chans(self) -> int:
        return self.ml_config['timm_kwargs'].get('in_chans', 3)


def head_on_features(model: nn.Module) -> nn.Module:
    """ Train the head alone on cached backbone features: the backbone frozen (it stays the cache's), the model's
    forward the head's (`forward_head`, on what `forward_features` returned). The state dict stays the whole model's,
    so its checkpoint validates and exports on images like any run."""
    classifier = model.get_classifier() if not isinstance(model, MultiLabelModel) else None
    trainable = set(map(id, model.head.parameters() if isinstance(model, MultiLabelModel) else
                        classifier.parameters()))
    for p in model.parameters():
        p.requires_grad = id(p) in trainable
    model.forward = model.forward_head
    return model


def timm_model_of(model: nn.Module) -> nn.Module:
    """The timm model inside a multi-label model (the model itself for the linear head)."""
    return model.backbone.model if isinstance(model, MultiLabelModel) else model


def head_classifier(model: nn.Module) -> Optional[nn.Module]:
    """The last layer of the head, for --head-init-scale / --head-init-bias (None for the cosine head)."""
    if not isinstance(model, MultiLabelModel):
        return model.get_classifier()
    for name in ('group_fc', 'fc'):  # ML-Decoder, GCN otx variant
        if isinstance(getattr(model.head, name, None), nn.Module):
            return getattr(model.head, name)
    return None


def head_parameters(model: nn.Module):
    """The parameters of the multi-label head (timm's classifier for the linear and attribute heads)."""
    head = model.head if isinstance(model, MultiLabelModel) else model.get_classifier()
    return list(head.parameters())


class PretrainedWeightsError(ValueError):
    """timm's pretrained weights could not be fetched (no network): the message names --pretrained-path."""


def _create_timm_model(model_name, pretrained, pretrained_path, timm_kwargs, num_classes=0):
    kwargs = dict(timm_kwargs)
    if pretrained_path:
        model = timm.create_model(model_name, pretrained=False, num_classes=num_classes, **kwargs)
        load_pretrained_file(model, pretrained_path, model_name)
        return model
    if pretrained and not pretrained_weights_reachable(model_name):
        raise PretrainedWeightsError(
            f'--pretrained: the weights of {model_name!r} are not in the local cache and the hub cannot be reached (no '
            'network). Pass a local weights file with --pretrained-path instead (python -m timm_ml.models.convert for '
            'foreign ones).')
    try:
        with quiet_hub():
            return timm.create_model(model_name, pretrained=pretrained, num_classes=num_classes, **kwargs)
    except Exception as e:
        if pretrained and not pretrained_path:
            raise PretrainedWeightsError(
                f'Could not fetch pretrained weights for {model_name!r} ({type(e).__name__}: {e}). '
                'Without network access, pass a local weights file with --pretrained-path instead of --pretrained.'
            ) from e
        raise


def create_ml_model(
        model_name: str,
        schema: LabelSchema,
        ml_head: str = 'linear',
        head_args: Optional[Dict[str, Any]] = None,
        pretrained: bool = False,
        pretrained_path: Optional[str] = None,
        timm_kwargs: Optional[Dict[str, Any]] = None,
        cond_prob=None,
        label_embeddings=None,
) -> nn.Module:
    """ Create a multi-label model.

    Args:
        model_name: Any timm model name.
        schema: The label schema: classes in order, exclusive groups (recorded in the model config and in every
            checkpoint); a list of class names is a flat multi-label schema.
        ml_head: One of ML_HEADS; the group heads (attributes, hierarchical) score each exclusive group with a softmax.
        head_args: Head options (mldecoder: num_groups, embed_dim, num_heads, dim_feedforward, dropout;
            cosine: scale; gcn: embed_dim, hidden_dim, tau, rho, variant; ssgrl: embed_dim, attention_dim, graph_dim,
            time_steps).
        pretrained: Load timm's pretrained weights (needs network).
        pretrained_path: Local backbone weights (a timm / torchvision state dict); the classifier is dropped.
        timm_kwargs: Passed to timm.create_model (drop_rate, drop_path_rate, in_chans, ...).
        cond_prob: Graph heads: (C, C) P(j | i) of the training labels (label_graph.conditional_cooccurrence). Left
            out when rebuilding from a checkpoint, whose state dict carries the graph.
        label_embeddings: Graph heads: (C, d) label embeddings (read_label_embeddings); None learns them.
    Returns:
        The model, with its rebuild config as `model.ml_config`.
    """
    if ml_head not in ML_HEADS:
        raise ValueError(f'Unknown --ml-head {ml_head!r}, expected one of {ML_HEADS}')
    if not isinstance(schema, LabelSchema):
        schema = LabelSchema(schema)
    head_args = dict(head_args or {})
    timm_kwargs = dict(timm_kwargs or {})
    num_classes = schema.num_classes
    if ml_head in GROUP_HEADS and not schema.groups:
        raise ValueError(f'--ml-head {ml_head} scores exclusive groups with a softmax, but the labels have none: use an '
                         'attribute CSV, --tree-columns, or Datumaro label groups, or a multi-label head (linear).')
    if ml_head in ('linear',) + GROUP_HEADS:
        # timm's own classifier; attribute groups are contiguous blocks of its outputs, one softmax each
        model = _create_timm_model(model_name, pretrained, pretrained_path, timm_kwargs, num_classes=num_classes)
    else:
        if ml_head in GRAPH_HEADS:
            if label_embeddings is not None:
                head_args.update(embed_dim=int(label_embeddings.shape[1]), learn_embeddings=False)
            head_args.setdefault('learn_embeddings', True)
            graph = dict(cond_prob=cond_prob, embeddings=label_embeddings)
        else:
            graph = {}
        model = MultiLabelModel(*_create_head(
            _create_timm_model(model_name, pretrained, pretrained_path, timm_kwargs), ml_head, num_classes, head_args,
            **graph))
    model.ml_config = dict(
        model=model_name,
        ml_head=ml_head,
        head_args=head_args if ml_head not in ('linear',) + GROUP_HEADS else {},
        classes=list(schema.classes),
        schema=schema.to_dict(),
        timm_kwargs={k: v for k, v in timm_kwargs.items() if isinstance(v, (int, float, str, bool, type(None)))},
    )
    return model


def _create_head(timm_model, ml_head, num_classes, head_args, **graph):
    backbone = Backbone(timm_model)
    if ml_head == 'cosine':
        head = CosineHead(backbone.head_hidden_size, num_classes, **head_args)
    elif ml_head == 'gcn':
        head = GCNHead(backbone.head_hidden_size, num_classes, **graph, **head_args)
    elif ml_head == 'ssgrl':
        head = SSGRLHead(backbone.num_features, num_classes, **graph, **head_args)
    else:
        head = MLDecoderHead(backbone.num_features, num_classes, **head_args)
    return backbone, head


def create_model_from_config(config: Dict[str, Any]) -> nn.Module:
    return create_ml_model(
        config['model'], LabelSchema.from_config(config), config['ml_head'], config.get('head_args'),
        timm_kwargs=config.get('timm_kwargs'))


def label_graph_kwargs(ml_head: str, train_labels, label_embeddings: Optional[str] = None, label_embed_dim: int = 300,
                       gcn_tau: float = 0.4, log: bool = True) -> Dict[str, Any]:
    """ Graph heads: the co-occurrence statistics of the training labels (as trained on: after --simulate-partial) and
    the --label-embeddings file. Other heads: nothing.

    Args:
        ml_head: The head. train_labels: The training LabelSet. label_embeddings: --label-embeddings file or None.
        label_embed_dim / gcn_tau: For the log line (learned width, graph binarisation threshold).
    """
    if ml_head not in GRAPH_HEADS:
        if label_embeddings:
            raise ValueError(f'--label-embeddings is for --ml-head gcn / ssgrl, not {ml_head}')
        return {}
    cond_prob = conditional_cooccurrence(train_labels.targets)
    embeddings = read_label_embeddings(label_embeddings, train_labels.classes) if label_embeddings else None
    if log:
        edges = int((cond_prob >= gcn_tau).sum()) if ml_head == 'gcn' else int((cond_prob > 0).sum())
        source = f'from {label_embeddings} ({embeddings.shape[1]}-d)' if embeddings is not None else \
            f'learned ({label_embed_dim}-d, no --label-embeddings file)'
        _logger.info(f'Label graph from {len(train_labels)} training rows: {edges} directed edges among '
                     f'{len(train_labels.classes)} classes; label embeddings {source}.')
    return dict(cond_prob=cond_prob, label_embeddings=embeddings)
