""" Dataset-level multi-label evaluation for train.py / validate.py, exact under DDP."""
from collections import OrderedDict
from typing import Optional

import torch
import torch.distributed as dist
from timm.task import ClassificationEvaluator, MultiLabelClassificationEvaluator

from timm_ml.schema import LabelSchema

from .multilabel import MultiLabelResult, compute_multilabel_metrics, metric_names


def gather_rows(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows of a 2-D tensor from every rank, in rank order (row counts may differ), on `tensor`'s device."""
    world_size = dist.get_world_size()
    shape = torch.tensor(tensor.shape, dtype=torch.int64, device=device)
    shapes = [torch.zeros_like(shape) for _ in range(world_size)]
    dist.all_gather(shapes, shape)
    max_rows = max(int(s[0]) for s in shapes)
    num_cols = max(int(s[1]) for s in shapes)
    padded = torch.zeros((max_rows, num_cols), dtype=tensor.dtype, device=device)
    padded[:tensor.shape[0], :tensor.shape[1]] = tensor.to(device)
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    dist.all_gather(gathered, padded)
    return torch.cat([rows[:int(s[0])] for rows, s in zip(gathered, shapes)]).to(tensor.device)


class MultiLabelEvaluator(MultiLabelClassificationEvaluator):
    """ timm's multi-label evaluator with unknown (-1) targets: masked exact mAP, CP..OF1 at a threshold, at
    per-class thresholds and at top-k, a per-class table and per-attribute metrics, all computed once at the end.

    Logits are kept as `store_dtype` (float16 halves the memory of Open-Images-sized evaluations at the cost of rank
    ties) on `store_device`: the CPU, or the GPU itself so the metrics are computed where the outputs are. Targets are
    kept as int8. Under DDP rows are gathered once, dropping the sampler's padding, so the result equals the
    single-process one.

    Args:
        device: Device of the running loss totals and collectives (the model's).
        max_samples: Real samples on this rank (timm's evaluation_sample_limit(loader)).
        criterion: Loss reported as `loss` (the masked training loss), or None.
        schema: The label schema (classes, groups, tree). scoring: The schema outputs are scored with (default
            `schema`; timm_ml.models.scoring_schema).
        threshold: Global probability threshold. thresholds: optional (C,) per-class thresholds.
        topk: k of the top-k metrics.
        store_dtype: dtype the logits are kept in.
        store_device: 'cpu', 'device' (the evaluation device) or 'auto' (the device when it is a GPU).
    """

    def __init__(self, device=None, *, max_samples: Optional[int] = None, criterion=None,
                 schema: LabelSchema = None, scoring: Optional[LabelSchema] = None,
                 threshold: float = 0.5, thresholds=None, topk: int = 3, store_dtype=torch.float32,
                 store_device: str = 'auto'):
        super().__init__(device, max_samples=max_samples, threshold=threshold)
        if schema is None:
            raise ValueError('MultiLabelEvaluator needs the label schema')
        self.criterion = criterion
        self.schema = schema
        self.scoring = scoring or schema
        self.classes = schema.classes
        if thresholds is not None and len(thresholds) != schema.num_classes:
            raise ValueError(f'{len(thresholds)} thresholds for {schema.num_classes} classes')
        self.thresholds = None if thresholds is None else torch.as_tensor(thresholds, dtype=torch.float32)
        self.topk = topk
        self.store_dtype = store_dtype
        on_device = store_device == 'device' or (store_device == 'auto' and self.device.type == 'cuda')
        self.store_device = self.device if on_device else torch.device('cpu')
        self.result: Optional[MultiLabelResult] = None

    @property
    def metric_names(self):
        """The columns compute() reports (timm's evaluators list theirs here too)."""
        return tuple(metric_names(self.schema, self.scoring, self.topk, self.thresholds is not None,
                                  self.criterion is not None))

    @torch.no_grad()
    def update(self, output, target):
        if output.ndim != 2 or target.shape != output.shape:
            raise ValueError('Multi-label evaluation expects matching (batch, num_classes) logits and targets.')
        output, target = self._prepare(output, target)
        if not output.shape[0]:
            return
        if self.criterion is not None:
            self._accumulate_loss(self.criterion(output, target.float()), output.shape[0])
        else:
            self.counts[0] += output.shape[0]
        # blocking copies: a non-blocking GPU -> CPU copy could be read before it lands
        self.outputs.append(output.to(self.store_device, self.store_dtype))
        self.targets.append(target.round().to(self.store_device, torch.int8))

    def _summary(self, loss_sum, counts):
        if self.criterion is None:
            return OrderedDict()
        return OrderedDict(loss=loss_sum.item() / max(int(counts[0]), 1))

    def gathered(self, distributed=False):
        """(logits, targets) of every rank, padding dropped."""
        if self.outputs:
            output, target = torch.cat(self.outputs), torch.cat(self.targets)
        else:
            num_classes = len(self.classes) if self.classes is not None else 0
            output = torch.empty(0, num_classes, dtype=self.store_dtype, device=self.store_device)
            target = torch.empty(0, num_classes, dtype=torch.int8, device=self.store_device)
        if distributed:
            output = gather_rows(output.float(), self.device).to(self.store_dtype)
            target = gather_rows(target, self.device)
        return output, target

    def compute(self, distributed=False):
        # the loss part of timm's evaluators; timm's multi-label metrics would read -1 targets as positives
        metrics = ClassificationEvaluator.compute(self, distributed=distributed)
        output, target = self.gathered(distributed)
        if not output.shape[0]:
            raise ValueError('No evaluation samples: every image of the evaluation split was skipped or the split is '
                             'empty; nothing to compute metrics on.')
        self.result = compute_multilabel_metrics(
            output, target, self.schema, self.scoring, self.threshold, self.thresholds, self.topk)
        metrics.update(self.result.summary)
        return metrics
