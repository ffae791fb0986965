""" One loss factory for every head: --loss bce|asl|aam|csl|ce and timm's other multi-label losses."""
import logging
from typing import Optional

import torch
import torch.nn as nn
from timm.loss import MULTI_LABEL_LOSS_TYPES, create_classification_loss

from .aam import AsymmetricAngularMarginLoss
from .group_ce import GroupCrossEntropy
from .csl import ClassAwareSelectiveLoss
from .masked import MaskedMultiLabelLoss
from .prior import label_frequency_prior, read_class_prior
from timm_ml.config import LossConfig
from timm_ml.data.targets import smooth_known
from timm_ml.schema import LabelSchema

_logger = logging.getLogger('train')

ML_LOSSES = ('csl', 'aam', 'ce') + tuple(MULTI_LABEL_LOSS_TYPES)
REDUCTIONS = {'asl': ('batchmean', 'sum', 'mean'), 'csl': ('sum', 'batchmean'), 'ce': ('mean', 'batchmean')}


class KnownTargetSmoothing(nn.Module):
    """Applies timm's multi-label label smoothing (towards 0.5) to the known targets before `loss`.

    Args:
        loss: A loss taking targets in [0, 1] or -1. smoothing: Smoothing factor.
    """

    def __init__(self, loss: nn.Module, smoothing: float):
        super().__init__()
        self.loss = loss
        self.smoothing = smoothing

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(x, smooth_known(target, self.smoothing))


def create_ml_loss(
        loss_type: str = 'bce',
        schema: Optional[LabelSchema] = None,
        smoothing: float = 0.,
        soft_targets: bool = False,
        gamma_pos: Optional[float] = None,
        gamma_neg: Optional[float] = None,
        gamma_unann: float = 2.,
        clip: Optional[float] = None,
        partial_loss_mode: str = 'negative',
        likelihood_topk: int = 5,
        prior_threshold: float = 0.05,
        prior_path: Optional[str] = None,
        label_prior=None,
        aam_s: float = 23.,
        aam_m: float = 0.,
        aam_k: float = 0.7,
        reduction: Optional[str] = None,
        class_counts=None,
        num_samples: Optional[int] = None,
        bce_sum: bool = False,
        bce_target_thresh: Optional[float] = None,
        bce_pos_weight: Optional[float] = None,
) -> nn.Module:
    """ Create a training loss that honours unknown targets (-1).

    Args:
        loss_type: 'bce', 'asl', 'poly', 'twoway', 'zlpr', 'db' (timm's, masked), 'csl', 'aam' (cosine head),
            'ce' (per-attribute cross-entropy, attribute heads).
        schema: The scoring schema (classes to check a CSL prior file against; the groups of 'ce').
        smoothing: Label smoothing: timm's multi-label smoothing towards 0.5 (every loss but ce, which smooths within
            each attribute); with soft_targets the mixup has applied it already (except for ce).
        soft_targets: Targets come from mixup / cutmix (soft values in [0, 1]; -1 stays unknown).
        gamma_pos, gamma_neg, clip: Focusing and probability shift (asl defaults 0 / 4 / 0.05, csl 0 / 1 / 0,
            aam 0 / 0 / 0.05).
        gamma_unann, partial_loss_mode, likelihood_topk, prior_threshold, prior_path: CSL options.
        label_prior: CSL selective without prior_path: the prior to use (label_frequency_prior of the training labels).
        aam_s, aam_m, aam_k: AAM scale, margin and positive weight (the published multi-label recipe 23 / 0 / 0.7; the
            reference class defaults 30 / 0.35 / 0.8 lose badly on pretrained backbones, see docs/method_notes.md).
        reduction: asl: 'batchmean' (timm's default) or 'sum' (the paper's); csl: 'sum' (reference) or 'batchmean';
            ce: how the tags beside the groups are reduced, 'batchmean' (summed per image, default) or 'mean' over known
            entries.
        class_counts, num_samples: Training label statistics for timm's 'db' loss.
        bce_sum, bce_target_thresh, bce_pos_weight: timm's BCE options (--bce-sum, --bce-target-thresh,
            --bce-pos-weight).
    """
    if loss_type not in ML_LOSSES:
        raise ValueError(f'Unknown --loss {loss_type!r}, expected one of {ML_LOSSES}')
    if reduction is not None and reduction not in REDUCTIONS.get(loss_type, ()):
        raise ValueError(f'--loss-reduction {reduction!r} does not apply to --loss {loss_type}: '
                         + (f'choose one of {REDUCTIONS[loss_type]}' if loss_type in REDUCTIONS else
                            'only asl, csl and ce take a reduction'))
    own_smoothing = 0. if soft_targets else smoothing
    classes = schema.classes if schema is not None else None
    if loss_type == 'ce':
        if schema is None or not schema.groups:
            raise ValueError('--loss ce is the cross-entropy per exclusive group: use it with --ml-head attributes / '
                             'hierarchical on data with groups')
        return GroupCrossEntropy(schema, smoothing=smoothing, tag_reduction=reduction or 'batchmean')
    if schema is not None and schema.groups:
        raise ValueError(f'--loss {loss_type} is a per-class loss; the group heads train with --loss ce')
    if loss_type == 'csl':
        if label_prior is not None and classes is not None and len(label_prior) != len(classes):
            raise ValueError(f'{len(label_prior)} prior values for {len(classes)} classes')
        prior = read_class_prior(prior_path, classes) if prior_path else label_prior
        loss = ClassAwareSelectiveLoss(
            partial_loss_mode=partial_loss_mode,
            gamma_pos=0. if gamma_pos is None else gamma_pos,
            gamma_neg=1. if gamma_neg is None else gamma_neg,
            gamma_unann=gamma_unann,
            clip=0. if clip is None else clip,
            likelihood_topk=likelihood_topk,
            prior=prior,
            prior_threshold=prior_threshold,
            reduction=reduction or 'sum',
        )
        return KnownTargetSmoothing(loss, own_smoothing) if own_smoothing else loss
    if loss_type == 'aam':
        loss = AsymmetricAngularMarginLoss(
            s=aam_s, m=aam_m, k=aam_k,
            gamma_pos=0. if gamma_pos is None else gamma_pos,
            gamma_neg=0. if gamma_neg is None else gamma_neg,
            clip=0.05 if clip is None else clip,
        )
        return KnownTargetSmoothing(loss, own_smoothing) if own_smoothing else loss
    kwargs = {}
    if loss_type == 'asl':
        kwargs.update(
            asl_gamma_pos=0. if gamma_pos is None else gamma_pos,
            asl_gamma_neg=4. if gamma_neg is None else gamma_neg,
            asl_clip=0.05 if clip is None else clip,
            asl_reduction=reduction or 'batchmean',
        )
    if loss_type == 'db':
        kwargs.update(class_counts=class_counts, num_samples=num_samples)
    if loss_type == 'bce':
        kwargs.update(bce_sum=bce_sum, bce_target_thresh=bce_target_thresh, pos_weight=bce_pos_weight)
    base = create_classification_loss(
        loss_type, multi_label=True, smoothing=smoothing, soft_targets=soft_targets, **kwargs)
    return MaskedMultiLabelLoss(base, loss_type)


def create_ml_losses(cfg: LossConfig, loss_type: str, train_labels, scoring: LabelSchema, mixup_active: bool = False,
                     log: bool = True):
    """ (train loss, evaluation loss) of a run; validate.py builds the evaluation loss of a checkpoint the same way
    (train_labels None: no label statistics, no training loss).

    The evaluation loss scores CSL unknowns as ignored: its selective / normalising weights depend on the training
    batch. 'db' needs the training label counts; CSL selective without --prior-path takes the positive rate among the
    known training labels as the class prior.

    Args:
        cfg: The loss config. loss_type: The resolved loss (--loss or the head recipe's).
        train_labels: The training LabelSet, or None. scoring: The model's scoring schema.
        mixup_active: Targets come from mixup / cutmix. log: Log the prior choice.
    """
    class_stats = {}
    if loss_type == 'db':
        if train_labels is None:
            return None, None
        class_stats = dict(class_counts=train_labels.targets.class_counts()[0], num_samples=len(train_labels))
    prior = {}
    if loss_type == 'csl' and cfg.partial_loss_mode == 'selective' and not cfg.prior_path and \
            train_labels is not None:
        prior = dict(label_prior=label_frequency_prior(train_labels.targets))
        if log:
            _logger.info(f'CSL selective: class prior = positive rate among the known training labels (no --prior-path);'
                         f' {int((prior["label_prior"] > cfg.prior_threshold).sum())} classes above --prior-threshold '
                         f'{cfg.prior_threshold} have their unknowns ignored.')
    train_loss = None
    if train_labels is not None:
        train_loss = create_ml_loss(loss_type, schema=scoring, smoothing=cfg.smoothing, soft_targets=mixup_active,
                                    **cfg.loss_kwargs(), **class_stats, **prior)
    eval_loss = create_ml_loss(loss_type, schema=scoring, **cfg.loss_kwargs(evaluation=True), **class_stats)
    return train_loss, eval_loss
