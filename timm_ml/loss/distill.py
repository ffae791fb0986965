""" Multi-label logit distillation: the student's scores matched to the teacher's, a sigmoid per class and a softmax
per exclusive group (timm's LogitDistillationTask matches one softmax over all classes, which means nothing for
independent labels).

Both sides are scored at temperature T (logits / T). A multi-label column contributes the binary KL divergence
q log(q / p) + (1 - q) log((1 - q) / (1 - p)); an exclusive group the categorical KL divergence of its values. The
loss is their mean over (images x terms), a term being one multi-label column or one group, times T^2 (as timm's, so
the gradient scale does not shrink with T). Columns the teacher has no class for contribute nothing.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from timm_ml.schema import LabelSchema


class MultiLabelDistillationLoss(nn.Module):
    """ KL divergence of the student's scores from the teacher's probabilities, per column / per group.

    Args:
        scoring: The student's scoring schema (groups scored by a softmax, every other column by a sigmoid).
        temperature: T of both sides; the loss is scaled by T^2.
        class_weight: Optional (C,) weights of the multi-label columns' terms.
    """

    def __init__(self, scoring: LabelSchema, temperature: float = 1.0, class_weight: Optional[torch.Tensor] = None):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'--kd-temperature {temperature}: must be > 0')
        self.temperature = temperature
        self.groups = [(g.start, g.end) for g in scoring.groups]
        self.register_buffer('multilabel', torch.as_tensor(scoring.multilabel, dtype=torch.long), persistent=False)
        weight = torch.ones(scoring.num_classes) if class_weight is None else torch.as_tensor(class_weight).float()
        if weight.shape != (scoring.num_classes,) or not torch.isfinite(weight).all() or (weight < 0).any():
            raise ValueError(f'distillation class weights: {scoring.num_classes} finite non-negative values expected')
        self.register_buffer('class_weight', weight, persistent=False)

    def forward(self, student_logits: torch.Tensor, teacher_probs: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
        """ Args:
            student_logits: (B, C) student logits.
            teacher_probs: (B, C) the teacher's probabilities at this temperature in the student's columns (a group's
                values summing to 1), from `Teacher.probabilities`.
            covered: (C,) bool, the columns the teacher has a class for (a group counts only when all its values are).
        """
        x = student_logits.float() / self.temperature
        q = teacher_probs.float()
        total = x.new_zeros(())
        terms = 0
        cols = self.multilabel[covered[self.multilabel]]
        if len(cols):
            xs, qs = x[:, cols], q[:, cols].clamp(0, 1)
            entropy = F.binary_cross_entropy(qs, qs, reduction='none')  # -(q log q + (1-q) log(1-q)), 0 at q in {0, 1}
            kl = F.binary_cross_entropy_with_logits(xs, qs, reduction='none') - entropy
            total = total + (kl * self.class_weight[cols]).sum()
            terms += len(cols)
        for start, end in self.groups:
            if not bool(covered[start:end].all()):
                continue
            qg = q[:, start:end]
            total = total + (torch.xlogy(qg, qg) - qg * F.log_softmax(x[:, start:end], -1)).sum()
            terms += 1
        if not terms:
            return total
        return total / (x.shape[0] * terms) * self.temperature ** 2
