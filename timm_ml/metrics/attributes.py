""" Per-attribute accuracy, balanced accuracy and macro-F1 over known targets (sklearn's definitions)."""
from collections import OrderedDict
from typing import Optional, Sequence

import torch


def attribute_metrics(scores: torch.Tensor, target: torch.Tensor, group_sizes: Sequence[int],
                      group_names: Optional[Sequence[str]] = None):
    """ Per attribute: acc, bacc (mean recall over true classes), macro_f1 (over classes in truth or prediction),
    all in percent, and `known` (count of samples with a known value).

    Args:
        scores: (N, C) scores, argmax within each group is the prediction.
        target: (N, C) targets; a group is known where it holds a 1.
        group_sizes: Values per attribute.
    """
    names = list(group_names) if group_names else [f'attr{i}' for i in range(len(group_sizes))]
    out = OrderedDict()
    for name, s, t in zip(names, scores.split(list(group_sizes), -1), target.split(list(group_sizes), -1)):
        known = (t == 1).any(-1)
        k = s.shape[1]
        if not known.any():  # no known value to score: NaN, left out of attr_mean_acc
            out[name] = OrderedDict(acc=float('nan'), bacc=float('nan'), macro_f1=float('nan'), known=0)
            continue
        y_true = (t[known] == 1).float().argmax(-1)
        y_pred = s[known].float().argmax(-1)
        conf = torch.bincount(y_true * k + y_pred, minlength=k * k).view(k, k).double()
        tp = conf.diag()
        support, predicted = conf.sum(1), conf.sum(0)
        recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
        precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
        f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall), torch.zeros_like(tp))
        present = (support > 0) | (predicted > 0)
        out[name] = OrderedDict(
            acc=100 * (tp.sum() / support.sum()).item(),
            bacc=100 * recall[support > 0].mean().item(),
            macro_f1=100 * f1[present].mean().item(),
            known=int(known.sum()))
    return out
