""" Dataset-level multi-label evaluation for train.py / validate.py, exact under DDP."""
from collections import OrderedDict
from typing import Optional, Sequence

import torch
from timm.task.evaluator import ClassificationEvaluator, _gather_rows

from .multilabel import MultiLabelResult, compute_multilabel_metrics


class MultiLabelEvaluator(ClassificationEvaluator):
    """ Collects logits and targets (unknowns kept as -1) and computes every metric once at the end.

    Logits are kept on the CPU as `store_dtype` (float16 halves the memory of Open-Images-sized evaluations at the
    cost of rank ties); targets as int8. Under DDP rows are gathered once, dropping the sampler's padding, so the
    result equals the single-process one.

    Args:
        device: Device for the running loss totals and collectives.
        max_samples: Real samples on this rank (timm's evaluation_sample_limit(loader)).
        criterion: Loss reported as `loss` (the training loss, masked), or None.
        classes: Class names. group_sizes / group_names: attribute groups.
        threshold: Global probability threshold. thresholds: optional (C,) per-class thresholds.
        topk: k of the top-k metrics.
        store_dtype: dtype the logits are kept in.
    """

    default_metric = 'map'

    def __init__(self, device=None, *, max_samples: Optional[int] = None, criterion=None,
                 classes: Optional[Sequence[str]] = None, group_sizes=None, group_names=None,
                 threshold: float = 0.5, thresholds=None, topk: int = 3, store_dtype=torch.float32):
        self.classes = classes
        self.group_sizes = group_sizes
        self.group_names = group_names
        self.threshold = threshold
        self.thresholds = None if thresholds is None else torch.as_tensor(thresholds, dtype=torch.float32)
        self.topk = topk
        self.store_dtype = store_dtype
        self.result: Optional[MultiLabelResult] = None
        self._has_criterion = criterion is not None
        super().__init__(device, max_samples=max_samples, criterion=criterion or (lambda o, t: o.new_zeros(())))

    def reset(self):
        super().reset()
        self.outputs = []
        self.targets = []

    @torch.no_grad()
    def update(self, output, target):
        if output.ndim != 2 or target.shape != output.shape:
            raise ValueError('Multi-label evaluation expects matching (batch, num_classes) logits and targets.')
        output, target = self._prepare(output, target)
        if not output.shape[0]:
            return
        self._accumulate_loss(self.criterion(output, target.float()), output.shape[0])
        self.outputs.append(output.to('cpu', self.store_dtype))
        self.targets.append(target.round().to('cpu', torch.int8))

    def _summary(self, loss_sum, counts):
        return OrderedDict(loss=loss_sum.item() / max(int(counts[0]), 1)) if self._has_criterion else OrderedDict()

    def gathered(self, distributed=False):
        if self.outputs:
            output, target = torch.cat(self.outputs), torch.cat(self.targets)
        else:
            output, target = torch.empty(0, 0, dtype=self.store_dtype), torch.empty(0, 0, dtype=torch.int8)
        if distributed:
            output = _gather_rows(output.float(), self.device).to(self.store_dtype)
            target = _gather_rows(target, self.device)
        return output, target

    def compute(self, distributed=False):
        metrics = super().compute(distributed=distributed)
        output, target = self.gathered(distributed)
        self.result = compute_multilabel_metrics(
            output, target, self.classes, self.group_sizes, self.group_names, self.threshold, self.thresholds,
            self.topk)
        metrics.update(self.result.summary)
        return metrics
