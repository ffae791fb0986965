""" Dataset-level multi-label evaluation for train.py / validate.py, exact under DDP."""
from collections import OrderedDict
from typing import Optional

import torch
import torch.distributed as dist
from timm.task import ClassificationEvaluator, MultiLabelClassificationEvaluator

from timm_ml.schema import LabelSchema

from .multilabel import (MultiLabelResult, _logit, block_class_statistics, compute_multilabel_metrics, metric_names,
                         summarize, topk_thresholds)
from .sharded import _gather_to, all_gather_rows, class_slices, merge_slices, sparse_class_statistics

SPARSE_UNKNOWN_SHARE = 0.5  # auto storage keeps known entries only above this unknown share


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
    kept as int8. When most targets are unknown (`storage` 'auto' and more than half of the first batch's entries, or
    'sparse'), only the known entries are kept (timm_ml.metrics.sharded): memory grows with the annotations. Under DDP
    each rank scores a slice of the classes (the outputs of those classes sent to it once, the sampler's padding
    dropped) and the per-class statistics are shared, so the result equals the single-process one; label schemas with
    exclusive groups gather every row instead (their metrics need whole rows).

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
        storage: 'auto', 'dense' or 'sparse' (known entries only).
    """

    def __init__(self, device=None, *, max_samples: Optional[int] = None, criterion=None,
                 schema: LabelSchema = None, scoring: Optional[LabelSchema] = None,
                 threshold: float = 0.5, thresholds=None, topk: int = 3, store_dtype=torch.float32,
                 store_device: str = 'auto', storage: str = 'auto'):
        if storage not in ('auto', 'dense', 'sparse'):
            raise ValueError(f'storage must be auto, dense or sparse, got {storage!r}')
        self.storage = storage
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

    def reset(self):
        super().reset()
        self.mode = None  # 'dense' or 'sparse', decided on the first batch
        self.sparse = dict(rows=[], cols=[], scores=[], targets=[], kth=[])
        self.rows_seen = 0

    @property
    def _has_multilabel(self):
        return len(self.scoring.multilabel) > 0

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
        target = target.round().to(torch.int8)
        if self.mode is None:
            unknown_share = float((target < 0).float().mean())
            sparse_ok = not self.schema.groups and not self.scoring.groups
            self.mode = 'sparse' if sparse_ok and (self.storage == 'sparse' or (
                self.storage == 'auto' and unknown_share > SPARSE_UNKNOWN_SHARE)) else 'dense'
        if self.mode == 'sparse':
            keep = self.sparse
            if self._has_multilabel:  # the row's top-k threshold, while the row is whole
                # of the stored values, as the dense path's: a float32 kth splits scores that round together
                kth = topk_thresholds(output.to(self.store_dtype), self.topk).float()
                keep['kth'].append(kth.to(self.store_device))
            r, c = (target >= 0).nonzero(as_tuple=True)
            keep['rows'].append((r + self.rows_seen).to(self.store_device, torch.int64))
            keep['cols'].append(c.to(self.store_device, torch.int32))
            keep['scores'].append(output[r, c].to(self.store_device, self.store_dtype))
            keep['targets'].append(target[r, c].to(self.store_device))
            self.rows_seen += output.shape[0]
            return
        # blocking copies: a non-blocking GPU -> CPU copy could be read before it lands
        self.outputs.append(output.to(self.store_device, self.store_dtype))
        self.targets.append(target.to(self.store_device))

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

    def _sparse_parts(self):
        keep = self.sparse
        cat = lambda xs, dtype: torch.cat(xs) if xs else torch.zeros(0, dtype=dtype, device=self.store_device)  # noqa
        return (cat(keep['rows'], torch.int64), cat(keep['cols'], torch.int32), cat(keep['scores'], self.store_dtype),
                cat(keep['targets'], torch.int8), cat(keep['kth'], torch.float32) if keep['kth'] else None)

    def _cuts(self):
        return _logit(self.threshold), None if self.thresholds is None else _logit(self.thresholds)

    def _sliced(self):
        """Class-sliced statistics under DDP: each rank scores its slice of the classes, then all share them."""
        world, rank = dist.get_world_size(), dist.get_rank()
        num_classes = self.schema.num_classes
        slices = class_slices(num_classes, world)
        cut, class_cuts = self._cuts()
        mine = slices[rank]
        if self.mode == 'sparse':
            rows, cols, scores, targets, kth = self._sparse_parts()
            offset = torch.tensor([self.rows_seen], dtype=torch.int64, device=self.device)
            seen = [torch.zeros_like(offset) for _ in range(world)]
            dist.all_gather(seen, offset)
            before = sum(int(x) for x in seen[:rank])
            total = sum(int(x) for x in seen)
            local = None
            for q, part in enumerate(slices):
                keep = (cols >= part.start) & (cols < part.stop)
                entry = torch.stack([(rows[keep] + before).double(), cols[keep].double(), scores[keep].double(),
                                     targets[keep].double()], 1)
                got = _gather_to(entry, q, self.device)
                if got is not None:
                    e = torch.cat(got).to(self.store_device)
                    kth_all = all_gather_rows(kth.to(self.device), self.device).to(self.store_device) \
                        if kth is not None else None
                    local = (e, kth_all)
                elif kth is not None:
                    all_gather_rows(kth.to(self.device), self.device)  # every rank joins each collective
            e, kth_all = local
            stats = sparse_class_statistics(e[:, 0].long(), e[:, 1].long(), e[:, 2].float(), e[:, 3].to(torch.int8),
                                            total, len(mine), cut, None if class_cuts is None else
                                            class_cuts[mine.start:mine.stop], kth_all, class_offset=mine.start)
        else:
            output = torch.cat(self.outputs) if self.outputs else \
                torch.empty(0, num_classes, dtype=self.store_dtype, device=self.store_device)
            target = torch.cat(self.targets) if self.targets else \
                torch.empty(0, num_classes, dtype=torch.int8, device=self.store_device)
            kth = topk_thresholds(output, self.topk) if self._has_multilabel and output.shape[0] else \
                torch.zeros(output.shape[0], device=self.store_device)
            kth_all = all_gather_rows(kth.float().to(self.device), self.device).to(self.store_device)
            local = None
            for q, part in enumerate(slices):
                piece = torch.cat([output[:, part.start:part.stop].float(),
                                   target[:, part.start:part.stop].float()], 1)
                got = _gather_to(piece, q, self.device)
                if got is not None:
                    local = torch.cat(got).to(self.store_device)
            width = len(mine)
            logits, tgt = local[:, :width].to(self.store_dtype), local[:, width:].to(torch.int8)
            stats = block_class_statistics(logits, tgt, torch.ones(width, dtype=torch.bool), cut,
                                           None if class_cuts is None else class_cuts[mine.start:mine.stop],
                                           kth_all if self._has_multilabel else None)
        return merge_slices(stats, slices, self.device)

    def compute(self, distributed=False):
        # the loss part of timm's evaluators; timm's multi-label metrics would read -1 targets as positives
        metrics = ClassificationEvaluator.compute(self, distributed=distributed)
        rows = torch.tensor([int(self.counts[0])], device=self.device)
        if distributed:
            dist.all_reduce(rows)
        if not int(rows):
            raise ValueError('No evaluation samples: every image of the evaluation split was skipped or the split is '
                             'empty; nothing to compute metrics on.')
        if distributed and not self.schema.groups and not self.scoring.groups:
            stats = self._sliced()
            self.result = summarize(stats, self.schema, self.scoring, self.threshold, self.thresholds, self.topk)
        elif self.mode == 'sparse':
            rows_, cols, scores, targets, kth = self._sparse_parts()
            cut, class_cuts = self._cuts()
            stats = sparse_class_statistics(rows_, cols, scores, targets, self.rows_seen, self.schema.num_classes,
                                            cut, class_cuts, kth)
            self.result = summarize(stats, self.schema, self.scoring, self.threshold, self.thresholds, self.topk)
        else:
            output, target = self.gathered(distributed)
            self.result = compute_multilabel_metrics(
                output, target, self.schema, self.scoring, self.threshold, self.thresholds, self.topk)
        metrics.update(self.result.summary)
        return metrics
