""" Metrics of exclusive groups and label trees: per group accuracy, balanced accuracy and macro-F1 over images whose
value is known (sklearn's definitions), the same per tree level for the decoded path, and the hierarchical
consistency rate."""
from collections import OrderedDict
from typing import Dict

import numpy as np

from timm_ml.schema import LabelSchema, decode


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_values: int) -> 'OrderedDict[str, float]':
    """acc, bacc (mean recall over true values), macro_f1 (over values in truth or prediction), in percent, and
    `known` (images scored). y_pred of -1 (nothing predicted) counts as wrong."""
    if not len(y_true):
        return OrderedDict(acc=float('nan'), bacc=float('nan'), macro_f1=float('nan'), known=0)
    k = num_values + 1  # the last row / column: no prediction
    pred = np.where(y_pred < 0, num_values, y_pred)
    conf = np.bincount(y_true * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)[:num_values]
    tp = np.diag(conf[:, :num_values])
    support, predicted = conf.sum(1), conf[:, :num_values].sum(0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    present = (support > 0) | (predicted > 0)
    return OrderedDict(acc=float(100 * tp.sum() / support.sum()), bacc=float(100 * recall[support > 0].mean()),
                       macro_f1=float(100 * f1[present].mean()), known=int(len(y_true)))


def _truth_and_argmax(scores, target, cols):
    block_t, block_s = target[:, cols], scores[:, cols]
    known = (block_t == 1).any(1)
    return known, block_t[known].argmax(1), block_s[known].argmax(1)


def marginal_scores(scores: np.ndarray, schema: LabelSchema, conditional: bool) -> np.ndarray:
    """Scores of every group column as the probability of its whole path (the product of the conditional softmax
    scores down the tree) when `conditional`; the scores themselves otherwise (independent sigmoids / softmaxes)."""
    if not conditional:
        return scores
    out = scores.astype(np.float64).copy()
    for g in schema.groups:
        p = schema.parent_column(g)
        if p is not None:
            out[:, g.start:g.end] *= out[:, p:p + 1]
    return out


def group_metrics(scores: np.ndarray, target: np.ndarray, schema: LabelSchema, conditional: bool = True) -> Dict:
    """ Per group, per tree level and consistency.

    Args:
        scores: (N, C) scores from the model's scoring function.
        target: (N, C) targets (1 / 0 / -1; a group is known where it holds a 1).
        schema: The label schema (its groups and tree).
        conditional: The scores of child groups are conditional on the parent (a softmax per group); False for
            independent scores (every value a sigmoid, or flat softmaxes per level).
    Returns:
        dict(groups={key: metrics}, levels={name: metrics}, consistency=percent of images whose decoded path is
        consistent (100 by construction), consistency_raw=the same for the per-level argmax of path scores).
    """
    out = dict(groups=OrderedDict(), levels=OrderedDict())
    for g in schema.groups:
        known, y_true, y_pred = _truth_and_argmax(scores, target, slice(g.start, g.end))
        out['groups'][g.key] = classification_metrics(y_true, y_pred, len(g.values))
    levels = schema.levels()
    if not levels:
        return out
    pred = decode(scores, schema)
    path_scores = marginal_scores(scores, schema, conditional)
    decoded_nodes, raw_nodes = {}, {}
    for name, cols in levels.items():
        cols = np.asarray(cols)
        t = target[:, cols]
        known = (t == 1).any(1)
        hit = pred[:, cols]
        decoded = np.where(hit.any(1), hit.argmax(1), -1)
        out['levels'][name] = classification_metrics(t[known].argmax(1), decoded[known], len(cols))
        decoded_nodes[name] = np.where(decoded >= 0, cols[np.maximum(decoded, 0)], -1)
        raw_nodes[name] = cols[path_scores[:, cols].argmax(1)]
    out['consistency'] = consistency_rate(decoded_nodes, schema)
    out['consistency_raw'] = consistency_rate(raw_nodes, schema)
    return out


def consistency_rate(nodes_per_level: Dict[str, np.ndarray], schema: LabelSchema) -> float:
    """Percent of (image, child level) predictions whose node sits under the node predicted at the parent level
    (-1 = nothing predicted, consistent only under nothing). Levels are those of schema.levels()."""
    levels = schema.levels()
    level_of = {c: name for name, cols in levels.items() for c in cols}
    ok, total = 0, 0
    for name, low in nodes_per_level.items():
        first = schema.group_of_column(levels[name][0])
        if first.parent is None:
            continue
        up = nodes_per_level[level_of[schema.column(first.parent)]]
        parent = np.array([schema.column(schema.group_of_column(c).parent) if c >= 0 else -2 for c in low])
        good = np.where(low >= 0, parent == up, True)
        ok += int(good.sum())
        total += len(good)
    return float(100. * ok / total) if total else float('nan')
