""" Cross-entropy per exclusive group (unknown groups ignored), plus the masked BCE of the multi-label block when the
schema has one (a hierarchical head with free tags)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from timm_ml.schema import LabelSchema


class GroupCrossEntropy(nn.Module):
    """ Mean over terms (with at least one known target in the batch) of the mean CE over the samples where the term is
    known, plus the BCE of the multi-label columns (tag_reduction below). A term is one root group, or one level of a
    tree: the child groups of a level (one per parent) pool their samples, so every level of a tree weighs as much as
    one flat attribute, however many parents it has. (A mean over groups gave the root of Unicode's emoji tree 1/11 of
    the loss, and 7 points of test group accuracy below two independent softmaxes: bench/emoji_hierarchy.py.)

    Targets use the shared encoding: a group's block is one-hot (or soft, after mixup) when known, all -1 when unknown
    and all 0 when it does not apply (its parent is a known negative), so a child group trains only on images whose
    parent is the known positive.

    The tags' BCE is summed per image and averaged over images with a known tag ('batchmean', as the asl / csl
    reductions: one per-image loss like a group's CE), or averaged over their known entries ('mean', which weighs 87
    tags as much as one softmax). On the emoji tree with 87 CLDR keywords the sum raised the hierarchical head's keyword
    mAP from 27.8 to 36.7 test (27.8 to 39.8 val) for 2.1 subgroup accuracy (5.7 val) (bench/emoji_hierarchy.py, README).

    Args:
        schema: The label schema (groups and multi-label block).
        smoothing: Label smoothing within each group (and timm's multi-label smoothing on the tags).
        tag_reduction: 'batchmean' (default) or 'mean' (--loss-reduction).
    """

    def __init__(self, schema: LabelSchema, smoothing: float = 0., tag_reduction: str = 'batchmean'):
        super().__init__()
        self.groups = [(g.start, g.end) for g in schema.groups]
        terms = {}
        for g in schema.groups:
            terms.setdefault((schema.root_of(g).key, schema.depth(g)), len(terms))
        self.term_of_group = [terms[(schema.root_of(g).key, schema.depth(g))] for g in schema.groups]
        self.num_terms = len(terms)
        self.register_buffer('multilabel', torch.as_tensor(schema.multilabel, dtype=torch.long), persistent=False)
        self.smoothing = smoothing
        if tag_reduction not in ('mean', 'batchmean'):
            raise ValueError(f"tag_reduction must be 'mean' or 'batchmean', got {tag_reduction!r}")
        self.tag_reduction = tag_reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        sums = [logits.new_zeros(()) for _ in range(self.num_terms)]
        counts = [0] * self.num_terms
        for (start, end), term in zip(self.groups, self.term_of_group):
            x, t = logits[:, start:end], target[:, start:end]
            known = (t >= 0).all(-1) & (t.sum(-1) > 0)
            if not known.any():
                continue
            x, t = x[known], t[known]
            t = t / t.sum(-1, keepdim=True)
            if self.smoothing:
                t = t * (1 - self.smoothing) + self.smoothing / t.shape[-1]
            sums[term] = sums[term] - (t * F.log_softmax(x, -1)).sum()
            counts[term] += x.shape[0]
        losses = [total / n for total, n in zip(sums, counts) if n]
        loss = torch.stack(losses).mean() if losses else logits.sum() * 0.
        if len(self.multilabel):
            x, t = logits[:, self.multilabel], target[:, self.multilabel]
            known = t >= 0
            if known.any():
                t = t.clamp(min=0)
                if self.smoothing:
                    t = t * (1 - self.smoothing) + 0.5 * self.smoothing
                bce = F.binary_cross_entropy_with_logits(x, t, reduction='none')
                per = known.any(-1).sum() if self.tag_reduction == 'batchmean' else known.sum()
                loss = loss + (bce * known).sum() / per
        return loss
