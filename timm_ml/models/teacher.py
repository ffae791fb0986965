""" A distillation teacher in the student's terms: timm's DistillationTeacher (frozen, eval mode, the input
re-normalised from the student's mean / std to its own) plus the map from the student's columns to the teacher's
outputs by class name, and the teacher's probabilities (and decisions) laid out in the student's columns.

The teacher is a timm_ml checkpoint (any head: its own scoring, thresholds and preprocessing come with it) or a stock
timm model with local weights and a class list naming its outputs (`--kd-class-map`), scored by a sigmoid each or one
softmax (an ImageNet classifier).
"""
import logging
from typing import List, Optional, Sequence

import timm
import torch
import torch.nn as nn
from timm.task import DistillationTeacher

from timm_ml.config import DistillConfig
from timm_ml.data import read_class_list
from timm_ml.recipes import scoring_for
from timm_ml.schema import LabelSchema
from timm_ml.scoring import scores_from_logits

from timm_ml.utils.checkpoint_io import CheckpointError, load_checkpoint_file

from .checkpoint import load_model_from_checkpoint
from .factory import PretrainedWeightsError
from .pretrained import pretrained_weights_reachable, quiet_hub

_logger = logging.getLogger(__name__)


class Teacher(nn.Module):
    """ The frozen teacher and how its outputs map onto the student's columns.

    Args:
        module: timm's DistillationTeacher around the teacher model (mean_kd / std_kd its own normalisation).
        classes: The teacher's output names, in order.
        scoring: How the teacher's logits become probabilities (its schema; None: one softmax over all outputs).
        thresholds: (Ct,) the teacher's decision thresholds (its tuned ones, else 0.5).
        student: The student's scoring schema.
        source: What the teacher is (for the log and the checkpoint).
    """

    def __init__(self, module: DistillationTeacher, classes: Sequence[str], scoring: Optional[LabelSchema],
                 thresholds: Sequence[float], student: LabelSchema, source: str):
        super().__init__()
        self.module = module
        for p in self.module.parameters():
            p.requires_grad = False
        self.classes = list(classes)
        self.scoring = scoring
        self.source = source
        self.student = student
        index = {c: i for i, c in enumerate(self.classes)}
        column = torch.tensor([index.get(c, -1) for c in student.classes], dtype=torch.long)
        covered = column >= 0
        for g in student.groups:  # a softmax over part of a group's values is another distribution: all or none
            if not bool(covered[g.start:g.end].all()):
                covered[g.start:g.end] = False
        if not covered.any():
            raise ValueError(f'the teacher {source} has none of the student\'s classes (its classes: '
                             f'{self.classes[:5]}...; the student\'s: {student.classes[:5]}...): match the names '
                             '(--kd-class-map for a stock timm teacher)')
        self.register_buffer('column', column.clamp(min=0), persistent=False)
        self.register_buffer('covered', covered, persistent=False)
        self.register_buffer('thresholds', torch.as_tensor(thresholds, dtype=torch.float32)[column.clamp(min=0)],
                             persistent=False)

    def describe(self) -> str:
        n = int(self.covered.sum())
        missing = [c for c, k in zip(self.student.classes, self.covered.tolist()) if not k]
        return (f'teacher {self.source}: {n} of the student\'s {len(self.covered)} classes'
                + (f' (no teacher class for {missing[:5]}{"..." if len(missing) > 5 else ""})' if missing else ''))

    @torch.no_grad()
    def logits(self, input: torch.Tensor, student_mean: torch.Tensor, student_std: torch.Tensor) -> torch.Tensor:
        """The teacher's logits of a batch normalised for the student."""
        return self.module(self.module.normalize_input(input, student_mean, student_std).detach()).float()

    def probabilities(self, logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """(B, C) the teacher's probabilities at `temperature` in the student's columns (0 where not covered); a
        student group's values renormalised to sum to 1."""
        z = logits.float() / temperature
        scores = z.softmax(-1) if self.scoring is None else scores_from_logits(z, self.scoring)
        q = scores[:, self.column] * self.covered
        for g in self.student.groups:
            if bool(self.covered[g.start]):
                block = q[:, g.start:g.end]
                q[:, g.start:g.end] = block / block.sum(-1, keepdim=True).clamp(min=1e-12)
        return q

    def decisions(self, probs: torch.Tensor) -> torch.Tensor:
        """(B, C) 1 / 0 decisions of temperature-1 probabilities: the argmax of a student group, the teacher's
        threshold elsewhere."""
        hard = (probs >= self.thresholds).float()
        for g in self.student.groups:
            block = probs[:, g.start:g.end]
            hard[:, g.start:g.end] = nn.functional.one_hot(block.argmax(-1), g.end - g.start).float()
        return hard * self.covered


def create_teacher(cfg: DistillConfig, student: LabelSchema, in_chans: int = 3,
                   device: Optional[torch.device] = None, log: bool = True) -> Teacher:
    """ The teacher of a distillation config.

    Args:
        cfg: --kd-checkpoint, or --kd-model-name with --kd-pretrained-path and --kd-class-map.
        student: The student's scoring schema.
        in_chans: Input channels (a stock timm teacher).
        device: Where the teacher runs.
    """
    if cfg.kd_checkpoint:
        model, config, _ = load_model_from_checkpoint(cfg.kd_checkpoint)
        module = DistillationTeacher(model, device=device)
        data_config = config.get('data_config') or {}
        if data_config.get('mean') is not None:  # its own preprocessing, not its backbone's ImageNet statistics
            module.mean_kd.copy_(torch.tensor(data_config['mean'], dtype=module.mean_kd.dtype).view(1, -1, 1, 1))
            module.std_kd.copy_(torch.tensor(data_config['std'], dtype=module.std_kd.dtype).view(1, -1, 1, 1))
        classes: List[str] = list(config['classes'])
        thresholds = config.get('thresholds') or [0.5] * len(classes)
        teacher = Teacher(module, classes, scoring_for(LabelSchema.from_config(config), config['ml_head']),
                          thresholds, student, f'{cfg.kd_checkpoint} ({config.get("model")}, {config["ml_head"]})')
    else:
        if not cfg.kd_class_map:
            raise ValueError(f'--kd-model-name {cfg.kd_model_name}: name its outputs with --kd-class-map (a text file, '
                             'one class name a line in output order) so they can be matched to the student\'s classes')
        classes = read_class_list(cfg.kd_class_map)
        if cfg.kd_pretrained_path:  # read with weights_only, as every checkpoint: a file from elsewhere runs no code
            model = timm.create_model(cfg.kd_model_name, num_classes=len(classes), in_chans=in_chans)
            _load_whole_model(model, cfg.kd_pretrained_path, cfg.kd_model_name)
        elif not pretrained_weights_reachable(cfg.kd_model_name):
            raise PretrainedWeightsError(f'--kd-model-name {cfg.kd_model_name}: its pretrained weights are not in the '
                                         'local cache and the hub cannot be reached; give them with '
                                         '--kd-pretrained-path FILE')
        else:
            with quiet_hub():
                model = timm.create_model(cfg.kd_model_name, pretrained=True, num_classes=len(classes),
                                          in_chans=in_chans)
        module = DistillationTeacher(model, device=device)
        scoring = LabelSchema(classes) if cfg.kd_teacher_activation == 'sigmoid' else None
        teacher = Teacher(module, classes, scoring, [0.5] * len(classes), student,
                          f'{cfg.kd_model_name} (stock timm, {cfg.kd_teacher_activation})')
    check_teacher_finite(module, cfg.kd_checkpoint or cfg.kd_pretrained_path or cfg.kd_model_name)
    if log:
        _logger.info(teacher.describe())
    return teacher.to(device) if device is not None else teacher


def _load_whole_model(model: nn.Module, path: str, model_name: str) -> None:
    """A stock teacher's weights, classifier included: every tensor must fit (a teacher with a random head would
    teach noise)."""
    state = load_checkpoint_file(path)
    for key in ('state_dict_ema', 'state_dict', 'model'):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    expected = model.state_dict()
    misfit = [f'{k} {tuple(v.shape)} (the model: {tuple(expected[k].shape)})' for k, v in state.items()
              if k in expected and v.shape != expected[k].shape]
    missing = [k for k in expected if k not in state]
    if misfit or missing:
        raise CheckpointError(f'--kd-pretrained-path {path}: its tensors do not fit {model_name} with '
                              f'{model.num_classes} outputs (the --kd-class-map lines): '
                              + '; '.join(misfit[:3] + [f'missing {k}' for k in missing[:3]]))
    model.load_state_dict(state, strict=False)


def check_teacher_finite(model: nn.Module, source: str) -> None:
    """A teacher with NaN or infinite weights would teach NaN targets: refused where it is loaded."""
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f'{source}: the teacher\'s weights hold NaN or infinite values ({", ".join(bad[:3])}'
                              f'{" ..." if len(bad) > 3 else ""}); it cannot teach')
