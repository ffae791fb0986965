""" Multi-label distillation tasks: timm's --kd-* flags with a multi-label meaning, and teacher-filled unknowns.

- Logit distillation (`MultiLabelDistillationTask`): the student's per-class sigmoids and per-group softmaxes matched
  to the teacher's probabilities at a temperature (timm_ml.loss.MultiLabelDistillationLoss), columns the teacher has
  no class for left out; the task loss stays the masked multi-label criterion.
- Feature distillation (`MultiLabelFeatureDistillationTask`): timm's FeatureDistillationTask (pooled pre-logits MSE,
  its projection in the task state) with the multi-label criterion, evaluator and checkpoint config.
- Teacher-filled unknowns (`fill_unknown`): unknown (-1) targets take the teacher's probabilities ('teacher') or its
  decisions at its thresholds ('teacher-hard'); known targets keep the truth. How many entries were filled per class is
  counted (`take_fill_counts`) for the log and summary.csv.

The teacher sees the student's batch (re-normalised to its own mean / std): no second data path, and under AMP,
channels-last and DDP whatever the student runs under (the teacher is never wrapped by DDP and never trained).
"""
import logging
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from timm.task import FeatureDistillationTask

from timm_ml.loss.distill import MultiLabelDistillationLoss
from timm_ml.models.teacher import Teacher
from timm_ml.schema import LabelSchema

from .multilabel import MultiLabelTask, MultiLabelTaskState

_logger = logging.getLogger(__name__)

FILL_MODES = ('none', 'teacher', 'teacher-hard')


def loss_weights(distill_loss_weight: Optional[float], task_loss_weight: Optional[float]):
    """(task weight, distill weight) by timm's three modes: both given / only the distill weight (task 1) / only the task
    weight (distill = 1 - task) / neither (1, 1)."""
    if distill_loss_weight is not None:
        return (1.0 if task_loss_weight is None else task_loss_weight), distill_loss_weight
    if task_loss_weight is not None:
        return task_loss_weight, 1.0 - task_loss_weight
    return 1.0, 1.0


def _mean_std(data_config: Dict[str, Any], device, dtype):
    view = lambda v: torch.tensor(v, device=device, dtype=dtype).view(1, -1, 1, 1)  # noqa: E731
    return view(data_config['mean']), view(data_config['std'])


class MultiLabelDistillationTask(MultiLabelTask):
    """ Logit distillation from a teacher in the student's columns, and / or unknown targets filled by the teacher.

    Args:
        model, criterion, ml_config, schema, threshold, topk, device, dtype, verbose: As MultiLabelTask.
        teacher: The frozen teacher (timm_ml.models.create_teacher).
        data_config: The student's data config (its mean / std: what the batches are normalised with).
        temperature: Distillation temperature.
        distill_loss_weight / task_loss_weight: timm's weighting (see loss_weights).
        fill_unknown: 'none', 'teacher' or 'teacher-hard'.
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, ml_config: Dict[str, Any], teacher: Teacher,
                 data_config: Dict[str, Any], schema: Optional[LabelSchema] = None, temperature: float = 1.0,
                 distill_loss_weight: Optional[float] = None, task_loss_weight: Optional[float] = None,
                 fill_unknown: str = 'none', threshold: float = 0.5, topk: int = 3,
                 device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None, verbose: bool = True):
        super().__init__(model, criterion, ml_config, schema=schema, threshold=threshold, topk=topk, device=device,
                         dtype=dtype, verbose=verbose)
        if fill_unknown not in FILL_MODES:
            raise ValueError(f'--fill-unknown {fill_unknown!r}: one of {", ".join(FILL_MODES)}')
        self.teacher = teacher
        self.temperature = temperature
        self.task_loss_weight, self.distill_loss_weight = loss_weights(distill_loss_weight, task_loss_weight)
        self.fill_unknown = fill_unknown
        self.kd_loss = MultiLabelDistillationLoss(self.scoring, temperature)
        mean, std = _mean_std(data_config, self.device, self.dtype)
        self.register_buffer('student_mean', mean, persistent=False)
        self.register_buffer('student_std', std, persistent=False)
        self.register_buffer('fill_counts', torch.zeros(self.schema.num_classes, dtype=torch.long), persistent=False)
        if verbose:
            _logger.info(f'Distillation: task weight {self.task_loss_weight}, distill weight '
                         f'{self.distill_loss_weight}, temperature {temperature}, unknown targets filled: '
                         f'{fill_unknown}')

    def train(self, mode: bool = True) -> 'MultiLabelDistillationTask':
        super().train(mode)
        self.teacher.eval()
        return self

    def prepare_distributed(self, device_ids: Optional[list] = None, **ddp_kwargs) -> 'MultiLabelDistillationTask':
        for p in self.teacher.parameters():
            p.requires_grad = False
        return super().prepare_distributed(device_ids=device_ids, **ddp_kwargs)

    def fill(self, target: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The targets with their unknown entries (in the columns the teacher covers) set from the teacher."""
        probs = self.teacher.probabilities(teacher_logits)
        fill = probs if self.fill_unknown == 'teacher' else self.teacher.decisions(probs)
        unknown = (target < 0) & self.teacher.covered
        self.fill_counts += unknown.sum(0)
        return torch.where(unknown, fill.to(target.dtype), target)

    def take_fill_counts(self) -> torch.Tensor:
        """The per-class counts of filled entries since the last call (reset)."""
        counts = self.fill_counts.clone()
        self.fill_counts.zero_()
        return counts

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> Dict[str, torch.Tensor]:
        student_logits = self.trainable_module(input)
        teacher_logits = self.teacher.logits(input, self.student_mean, self.student_std)
        if self.fill_unknown != 'none':
            target = self.fill(target, teacher_logits)
        task_loss = self.criterion(student_logits, target)
        if self.distill_loss_weight:
            kd_loss = self.kd_loss(student_logits, self.teacher.probabilities(teacher_logits, self.temperature),
                                   self.teacher.covered)
        else:
            kd_loss = task_loss.new_zeros(())
        return {
            'loss': self.task_loss_weight * task_loss + self.distill_loss_weight * kd_loss,
            'output': student_logits,
            'task_loss': task_loss,
            'kd_loss': kd_loss,
        }


class MultiLabelFeatureDistillationTask(MultiLabelTaskState, FeatureDistillationTask):
    """ timm's feature distillation (student pooled features matched to the teacher's by MSE through a projection when
    the widths differ) with the multi-label criterion, evaluator and checkpoint config.

    Args:
        model: The student (a timm classifier: linear, attributes or hierarchical head).
        criterion, ml_config, schema, threshold, topk: As MultiLabelTask.
        teacher: The frozen teacher. data_config: The student's data config (mean / std).
        distill_loss_weight / task_loss_weight: timm's weighting.
        device, dtype, verbose: As timm's tasks.
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, ml_config: Dict[str, Any], teacher: Teacher,
                 data_config: Dict[str, Any], schema: Optional[LabelSchema] = None,
                 distill_loss_weight: Optional[float] = None, task_loss_weight: Optional[float] = None,
                 threshold: float = 0.5, topk: int = 3, device: Optional[torch.device] = None,
                 dtype: Optional[torch.dtype] = None, verbose: bool = True):
        if not (hasattr(model, 'forward_head') and hasattr(teacher.module.model, 'forward_head')):
            raise ValueError('--kd-distill-type feature matches pooled features (timm\'s forward_head(pre_logits=True)):'
                             ' the student and the teacher must be timm classifiers (--ml-head linear, attributes or '
                             'hierarchical); use --kd-distill-type logit for the other heads')
        super().__init__(student_model=model, teacher_model=teacher.module, criterion=criterion,
                         distill_loss_weight=distill_loss_weight, task_loss_weight=task_loss_weight, device=device,
                         dtype=dtype, verbose=verbose)
        self.setup_multilabel(ml_config, schema, threshold, topk)
        mean, std = _mean_std(data_config, self.device, self.dtype)
        self.student_mean.copy_(mean)  # the loader's normalisation, which --mean / --std may have changed
        self.student_std.copy_(std)
