""" Out-of-fold label audit on a feature cache: k linear heads, each trained (masked BCE on the pooled cached features)
on the other folds, score every training image with a head that never saw it; the entries whose label disagrees most
with those scores are ranked: likely missing tags (an entry labelled negative or unknown scored high) and likely wrong
tags (a positive scored low). Writes audit.csv (every ranked entry with its image, class, label and score) and an
audit page (audit/index.html: thumbnails, scores, the entry in the label file).
"""
import base64
import io
import os
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import pandas as pd
import torch

from timm_ml.data import load_image
from timm_ml.data.feature_cache import FeatureDataset, cache_label_set
from timm_ml.loss import create_ml_loss
from timm_ml.utils.escape import html_text, spreadsheet_cell
from timm_ml.utils.outputs import PAGE_GENERATOR_TAG
from timm_ml.utils.writer import replace_folder


@dataclass(frozen=True)
class AuditSpec:
    """ Args:
        folds: k of the k-fold split (seeded).
        l2: Each fold's linear head minimises masked BCE + l2 * |W|^2 (full batch, L-BFGS: the textbook linear probe;
            no lr or epoch count to tune, and a dimension that barely varies gets no weight, which Adam's per-weight
            step sizes would give it).
        max_iter: L-BFGS iterations per fold.
        seed: Fold assignment.
    """
    folds: int = 5
    l2: float = 1e-4
    max_iter: int = 200
    seed: int = 0


def pooled_features(dataset: FeatureDataset) -> torch.Tensor:
    """(N, D) float32: each cached map averaged over its positions (NCHW maps over H, W; NHWC over H, W; tokens
    over N), as a global-average-pooling classifier sees it."""
    dims = {'NCHW': (1, 2), 'NHWC': (0, 1)}.get(dataset.output_fmt, (0,))
    return torch.stack([dataset.features(i).mean(dim=dims) for i in range(len(dataset))])


def _fit(x: torch.Tensor, y: torch.Tensor, spec: AuditSpec) -> torch.nn.Linear:
    head = torch.nn.Linear(x.shape[1], y.shape[1])
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    loss_fn = create_ml_loss('bce')
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=spec.max_iter, history_size=20,
                            line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = loss_fn(head(x), y) + spec.l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return head


def out_of_fold_scores(x: torch.Tensor, y: torch.Tensor, spec: AuditSpec) -> np.ndarray:
    """(N, C) sigmoid scores, each row from the head of the fold it was held out of."""
    generator = torch.Generator().manual_seed(spec.seed)
    fold = torch.randperm(len(x), generator=generator) % spec.folds
    scores = torch.zeros_like(y)
    # a dimension that fires for a handful of images (pooled ReLU maps) has a tiny std; scaled by it, one image
    # gets z-scores in the thousands and every class saturates: no dimension is scaled up past the median one
    std = x.std(0)
    x = (x - x.mean(0)) / std.clamp(min=max(float(std.median()), 1e-6))
    for k in range(spec.folds):
        held = fold == k
        head = _fit(x[~held], y[~held], spec)
        with torch.no_grad():
            scores[held] = torch.sigmoid(head(x[held]))
    return scores.numpy()


def rank_suspects(scores: np.ndarray, labels: np.ndarray) -> Dict[str, np.ndarray]:
    """Entries ranked most suspicious first: 'missing' (label 0 or -1, by score, descending) and 'wrong' (label 1, by
    score, ascending), each as (row, class) pairs; and the images ranked by their most suspicious entry, measured as
    its place in its own ranking (0..1): a missing tag and a wrong tag sit on different score scales (there are ~60x
    more negatives than positives), so the raw score would let one kind crowd out the other."""
    suspicion = np.zeros(scores.shape, dtype=np.float64)
    ranked = {}
    for kind, entries, order in (('missing', labels != 1, -1), ('wrong', labels == 1, 1)):
        rows, cols = np.nonzero(entries)
        first = np.argsort(order * scores[rows, cols], kind='stable')
        ranked[kind] = np.stack([rows, cols], 1)[first]
        place = np.empty(len(first))
        place[first] = np.arange(len(first), 0, -1) / max(len(first), 1)
        suspicion[rows, cols] = place
    suspicion = suspicion.max(1)
    return dict(**ranked, images=np.argsort(-suspicion, kind='stable'), suspicion=suspicion)


def audit_cache(cache: str, split: str = 'train', spec: AuditSpec = AuditSpec(),
                scores: Optional[np.ndarray] = None):
    """(labels LabelSet, out-of-fold scores, ranked suspects) of a cached split."""
    labels = cache_label_set(cache, split)
    dense = labels.targets.dense()
    if scores is None:
        x = pooled_features(FeatureDataset(cache, labels))
        scores = out_of_fold_scores(x, torch.from_numpy(dense).float(), spec)
    return labels, scores, rank_suspects(scores, dense)


def write_audit(out: str, labels, scores: np.ndarray, ranked, top: int = 60) -> str:
    """audit.csv (every ranked entry) and the audit page (the top entries of each kind with thumbnails)."""
    dense = labels.targets.dense()
    records = []
    for kind in ('missing', 'wrong'):
        for rank, (r, c) in enumerate(ranked[kind]):
            records.append(dict(kind=kind, rank=rank + 1, path=labels.paths[r], cls=labels.classes[c],
                                label=int(dense[r, c]), score=round(float(scores[r, c]), 6)))
    table = pd.DataFrame(records)

    def build(folder):
        cells = table.assign(path=table.path.map(spreadsheet_cell), cls=table.cls.map(spreadsheet_cell))
        cells.rename(columns={'cls': 'class'}).to_csv(os.path.join(folder, 'audit.csv'), index=False)
        with open(os.path.join(folder, 'index.html'), 'w', encoding='utf-8') as f:
            f.write(_page(labels, table, top))
    replace_folder(out, build, '--out', kinds=('report',))
    return os.path.join(out, 'index.html')


def _thumb(labels, path: str) -> str:
    try:
        image = load_image(os.path.join(labels.root, path), 'RGB')
        image.thumbnail((96, 96))
        buf = io.BytesIO()
        image.save(buf, format='PNG')
        return 'data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode()
    except (OSError, ValueError):
        return ''


def _page(labels, table: pd.DataFrame, top: int) -> str:
    meaning = {1: 'positive', 0: 'negative', -1: 'unknown'}
    sections = []
    for kind, title in (('missing', 'Likely missing tags: labelled negative or unknown, scored high'),
                        ('wrong', 'Likely wrong tags: labelled positive, scored low')):
        cards = []
        for r in table[table.kind == kind].head(top).itertuples():
            src = _thumb(labels, r.path)
            cards.append(f'<div class="card"><img alt="" src="{src}"><div><b>{html_text(r.cls)}</b><br>'
                         f'label: {meaning[r.label]}, score {r.score:.3f}<br><small>{html_text(r.path)}</small>'
                         f'</div></div>')
        sections.append(f'<h2>{html_text(title)}</h2><div class="grid">{"".join(cards)}</div>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{PAGE_GENERATOR_TAG}'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
            f'style-src \'unsafe-inline\'"><title>Label audit: {html_text(labels.source)}</title><style>'
            'body{font:14px sans-serif;margin:20px} .grid{display:flex;flex-wrap:wrap;gap:8px} '
            '.card{display:flex;gap:6px;border:1px solid #ddd;padding:6px;width:300px} img{width:96px;height:96px;'
            'object-fit:contain;background:#f4f4f4}</style></head><body>'
            f'<h1>Label audit of {html_text(labels.source)}</h1><p>Each entry scored by a linear head trained on the '
            'other folds (it never saw the image). audit.csv ranks every entry.</p>' + ''.join(sections)
            + '</body></html>')
