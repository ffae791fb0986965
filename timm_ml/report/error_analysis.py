""" The error-analysis page: one static HTML file (no server, no network, no script library: plain JavaScript and
SVG written here) beside thumbnails and a heatmap PNG drawn with matplotlib.

What it shows, for the split validate.py evaluated:
- the headline metrics and a class table sortable by AP / F1 / precision / recall / support / errors (validate.py's
  numbers: the table is `MultiLabelResult.per_class`);
- for the chosen class, its precision-recall curve over every threshold with the operating point marked (the
  checkpoint's per-class threshold, or 0.5; argmax within its group for an exclusive group's value), and its most
  confident false positives and least confident false negatives as thumbnails with their scores;
- the most-confused class pairs: true class i missed in an image where class j was predicted wrongly, as a table and a
  heatmap beside the ground-truth co-occurrence of the same classes.
"""
import json
import os
from typing import Callable, Dict, List, Sequence

import matplotlib
import numpy as np

from timm_ml.schema import LabelSchema, decode
from timm_ml.utils.escape import html_text, plot_text
from timm_ml.utils.outputs import PNG_METADATA
from timm_ml.utils.writer import replace_folder

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

REPORT_FILES = ('index.html', 'report.json', 'confusions.png', 'thumbs')
MAX_CURVE_POINTS = 200


class ReportError(ValueError):
    """The report cannot be written where asked."""


def decisions(scores: np.ndarray, schema: LabelSchema, thresholds: np.ndarray) -> np.ndarray:
    """(N, C) bool predictions as the model decides (the one decoder, LabelSchema.decode: a child group and a tag
    under a parent only where the parent is predicted)."""
    return decode(np.nan_to_num(scores, nan=-1.), schema, thresholds)


def pr_curve(scores: np.ndarray, target: np.ndarray, max_points: int = MAX_CURVE_POINTS):
    """(recall, precision) at every distinct threshold of one class's known entries, thinned to `max_points` (the
    curve's ends kept)."""
    known = target >= 0
    s, y = scores[known], target[known] == 1
    if not y.any():
        return [], []
    order = np.argsort(-s, kind='stable')
    s, y = s[order], y[order]
    ends = np.r_[s[1:] != s[:-1], True]  # last entry of each tie group
    tp, fp = np.cumsum(y)[ends], np.cumsum(~y)[ends]
    recall, precision = tp / y.sum(), tp / (tp + fp)
    if len(recall) > max_points:
        keep = np.unique(np.r_[0, np.linspace(0, len(recall) - 1, max_points).round().astype(int), len(recall) - 1])
        recall, precision = recall[keep], precision[keep]
    return [round(float(r), 5) for r in recall], [round(float(p), 5) for p in precision]


def confused_pairs(pred: np.ndarray, target: np.ndarray, top: int = 20):
    """[(i, j, count)]: images where true class i was missed while class j was predicted and is absent, most first."""
    missed = (target == 1) & ~pred
    wrong = pred & (target == 0)
    counts = missed.T.astype(np.int64) @ wrong.astype(np.int64)
    np.fill_diagonal(counts, 0)
    flat = np.argsort(-counts, axis=None, kind='stable')[:top]
    pairs = [(int(i), int(j), int(counts[i, j])) for i, j in zip(*np.unravel_index(flat, counts.shape))]
    return [p for p in pairs if p[2] > 0], counts


def _heatmap(path, counts, cooccurrence, classes, title):
    n = len(classes)
    fig, axes = plt.subplots(1, 2, figsize=(6 + 0.5 * n, 3 + 0.25 * n), constrained_layout=True)
    for ax, m, name in ((axes[0], counts, 'missed (row) while predicting (column)'),
                        (axes[1], cooccurrence, 'ground-truth co-occurrence')):
        im = ax.imshow(m, cmap='magma_r')
        ax.set_xticks(range(n), [plot_text(c) for c in classes], rotation=60, ha='right', fontsize=8)
        ax.set_yticks(range(n), [plot_text(c) for c in classes], fontsize=8)
        ax.set_title(name, fontsize=10)
        for (r, c), v in np.ndenumerate(m):
            if v:
                ax.text(c, r, str(int(v)), ha='center', va='center', fontsize=7,
                        color='white' if v > m.max() / 2 else 'black')
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.suptitle(plot_text(title), fontsize=11)
    fig.savefig(path, dpi=110, format='png', metadata=PNG_METADATA)
    plt.close(fig)


def write_error_report(
        out_dir: str,
        scores: np.ndarray,
        target: np.ndarray,
        names: Sequence[str],
        load_image: Callable[[int], 'object'],
        schema: LabelSchema,
        thresholds: np.ndarray,
        per_class: List[Dict],
        summary: Dict[str, float],
        title: str,
        gallery_size: int = 8,
        gallery_classes: int = 100,
        heatmap_classes: int = 15,
) -> str:
    """ Write `out_dir`/index.html (+ thumbs/, confusions.png, report.json); returns the page's path. The folder is
    written whole (a new folder that then takes the place of an earlier report of ours, never of another folder).

    Args:
        scores: (N, C) scores from the one scoring function. target: (N, C) int8 targets, 1 / 0 / -1.
        names: Image names shown under the thumbnails, in row order. load_image: Row index -> PIL image.
        schema: The scoring schema (exclusive groups decide by argmax). thresholds: (C,) the decision thresholds of the
            multi-label columns (ignored for group columns).
        per_class: validate.py's per-class rows (MultiLabelResult.per_class); summary: its metrics.
        gallery_size: False positives / negatives shown per class. gallery_classes: Classes with galleries (those
            with the most errors; the others say so). heatmap_classes: Classes in the confusion heatmap.
    """
    replace_folder(out_dir, lambda folder: _write_report(
        folder, scores, target, names, load_image, schema, thresholds, per_class, summary, title, gallery_size,
        gallery_classes, heatmap_classes), '--report', kinds=('report',))
    return os.path.join(out_dir, 'index.html')


def _write_report(out_dir, scores, target, names, load_image, schema, thresholds, per_class, summary, title,
                  gallery_size, gallery_classes, heatmap_classes):
    thumbs = os.path.join(out_dir, 'thumbs')
    os.makedirs(thumbs)
    scores = np.asarray(scores, dtype=np.float32)
    target = np.asarray(target, dtype=np.int8)
    thresholds = np.asarray(thresholds, dtype=np.float32)
    pred = decisions(scores, schema, thresholds)
    fp_mask, fn_mask = pred & (target == 0), (target == 1) & ~pred
    errors = fp_mask.sum(0) + fn_mask.sum(0)
    with_gallery = set(np.argsort(-errors, kind='stable')[:gallery_classes].tolist())
    needed, classes_data = {}, []
    for c, row in enumerate(per_class):
        recall, precision = pr_curve(scores[:, c], target[:, c])
        entry = dict(row, fp=int(fp_mask[:, c].sum()), fn=int(fn_mask[:, c].sum()), recall_curve=recall,
                     precision_curve=precision, argmax=schema.group_of_column(c) is not None,
                     gallery=c in with_gallery)
        if c in with_gallery:
            fps = np.flatnonzero(fp_mask[:, c])
            fns = np.flatnonzero(fn_mask[:, c])
            fps = fps[np.argsort(-scores[fps, c], kind='stable')][:gallery_size]
            fns = fns[np.argsort(scores[fns, c], kind='stable')][:gallery_size]
            entry['fp_images'] = [[needed.setdefault(int(i), len(needed)), float(scores[i, c])] for i in fps]
            entry['fn_images'] = [[needed.setdefault(int(i), len(needed)), float(scores[i, c])] for i in fns]
        classes_data.append(entry)
    images = [None] * len(needed)
    for i, n in needed.items():
        img = load_image(i).convert('RGB')
        img.thumbnail((112, 112))
        img.save(os.path.join(thumbs, f'{n}.jpg'), quality=90)
        images[n] = dict(file=f'thumbs/{n}.jpg', name=str(names[i]),
                         labels=[schema.classes[k] for k in np.flatnonzero(target[i] == 1)],
                         predicted=[schema.classes[k] for k in np.flatnonzero(pred[i])])
    pairs, counts = confused_pairs(pred, target)
    involved = list(dict.fromkeys(k for i, j, _ in pairs for k in (i, j)))[:heatmap_classes]
    if involved:
        known = (target[:, involved] == 1).astype(np.int64)
        _heatmap(os.path.join(out_dir, 'confusions.png'), counts[np.ix_(involved, involved)], known.T @ known,
                 [schema.classes[k] for k in involved], title)
    data = dict(title=title, summary={k: v for k, v in summary.items() if isinstance(v, (int, float))},
                classes=classes_data, images=images, gallery_size=gallery_size,
                pairs=[dict(missed=schema.classes[i], predicted=schema.classes[j], count=n) for i, j, n in pairs],
                heatmap=bool(involved))
    with open(os.path.join(out_dir, 'report.json'), 'w') as f:
        json.dump(_finite(data), f, allow_nan=False)
    with open(os.path.join(out_dir, 'index.html'), 'w', encoding='utf-8') as f:
        f.write(_page(data))


def _finite(value):
    """NaN / inf as None (JSON null), through lists and dicts."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_for_script(data) -> str:
    """JSON safe inside <script>: no '</script>' or '<!--' can end or open anything."""
    text = json.dumps(_finite(data), allow_nan=False)
    return text.replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')


def _page(data) -> str:
    head, _, rest = PAGE.partition('__TITLE__')  # one pass: nothing inserted is searched for a placeholder again
    middle, _, tail = rest.partition('__DATA__')
    return head + html_text(data['title']) + middle + _json_for_script(data) + tail


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="generator" content="timm_ml">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body{font-family:system-ui,sans-serif;margin:16px;color:#222;max-width:1400px}
h1{font-size:20px;margin:0 0 8px} h2{font-size:16px;margin:18px 0 6px}
#summary span{display:inline-block;margin:0 14px 6px 0;padding:4px 8px;background:#f1f3f5;border-radius:4px}
#layout{display:flex;gap:18px;align-items:flex-start}
#left{flex:0 0 620px;max-height:560px;overflow:auto;border:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{position:sticky;top:0;background:#fafafa;cursor:pointer;user-select:none}
td.name,th.name{text-align:left;max-width:220px;overflow:hidden;text-overflow:ellipsis}
tr.sel{background:#fff3bf} tbody tr:hover{background:#f8f9fa;cursor:pointer}
#right{flex:1}
.grid{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:124px;font-size:11px;text-align:center}
figure img{width:112px;height:112px;object-fit:contain;background:#eee;border:2px solid #ccc}
figure.fp img{border-color:#e03131} figure.fn img{border-color:#1c7ed6}
figcaption{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.note{color:#666;font-size:12px}
svg text{font-size:11px}
</style></head>
<body>
<h1 id="title"></h1>
<div id="summary"></div>
<div id="layout">
<div id="left"><table id="classes"><thead><tr id="head"></tr></thead><tbody id="rows"></tbody></table></div>
<div id="right">
<h2 id="class-title"></h2>
<div id="class-stats" class="note"></div>
<svg id="pr" width="420" height="300" role="img" aria-label="precision-recall curve"></svg>
<h2>False positives <span class="note">(most confident first; red)</span></h2><div id="fp" class="grid"></div>
<h2>False negatives <span class="note">(least confident first; blue)</span></h2><div id="fn" class="grid"></div>
</div></div>
<h2>Most-confused class pairs</h2>
<div class="note">An image counts for (missed, predicted) when its true class <i>missed</i> was not predicted and class
<i>predicted</i> was predicted but is absent.</div>
<table id="pairs" style="width:auto"><thead><tr><th class="name">missed</th><th class="name">predicted</th><th>images</th></tr></thead><tbody></tbody></table>
<div id="heatmap"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById('data').textContent);
const el = (tag, attrs, text) => { const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text; return e; };
const COUNTS = new Set(['positives', 'unknown', 'fp', 'fn']);
const fmt = (v, key) => (v === null || v === undefined || Number.isNaN(v)) ? '' :
  (typeof v === 'number' && !COUNTS.has(key) ? v.toFixed(2) : String(v));
document.getElementById('title').textContent = D.title;
const S = D.summary, shown = ['map', 'CF1', 'OF1', 'CP', 'CR', 'thr_CF1', 'thr_OF1', 'attr_mean_acc', 'attr_mean_bacc', 'hier_consistency'];
for (const k of shown) if (k in S && S[k] !== null) document.getElementById('summary').appendChild(el('span', {'data-metric': k}, k + ' ' + fmt(S[k])));
const COLS = [['name', 'class'], ['group', 'group'], ['ap', 'AP'], ['f1', 'F1'], ['precision', 'P'], ['recall', 'R'],
              ['positives', 'support'], ['threshold', 'threshold'], ['fp', 'FP'], ['fn', 'FN']];
let sortKey = 'ap', sortDesc = true, selected = 0;
const head = document.getElementById('head');
for (const [key, label] of COLS) { const th = el('th', {'data-key': key, 'class': key === 'name' || key === 'group' ? 'name' : ''}, label);
  th.addEventListener('click', () => { sortDesc = sortKey === key ? !sortDesc : key !== 'name' && key !== 'group'; sortKey = key; renderTable(); });
  head.appendChild(th); }
function value(c, key) { const v = c[key]; return (v === null || Number.isNaN(v)) ? -Infinity : v; }
function renderTable() {
  const body = document.getElementById('rows'); body.replaceChildren();
  const order = D.classes.map((c, i) => i).sort((a, b) => {
    const x = value(D.classes[a], sortKey), y = value(D.classes[b], sortKey);
    const r = typeof x === 'string' ? x.localeCompare(y) : x - y; return (sortDesc ? -r : r) || a - b; });
  for (const i of order) { const c = D.classes[i];
    const tr = el('tr', {'data-index': i, 'class': i === selected ? 'sel' : ''});
    for (const [key] of COLS) tr.appendChild(el('td', {'class': key === 'name' || key === 'group' ? 'name' : '', 'data-key': key},
      key === 'threshold' && c.argmax ? 'argmax' : fmt(c[key], key)));
    tr.addEventListener('click', () => { selected = i; renderTable(); renderClass(); });
    body.appendChild(tr); }
  for (const th of head.children) th.textContent = COLS.find(c => c[0] === th.dataset.key)[1] + (th.dataset.key === sortKey ? (sortDesc ? ' \\u25BC' : ' \\u25B2') : '');
}
function renderCurve(c) {
  const svg = document.getElementById('pr'); svg.replaceChildren();
  const W = 420, H = 300, L = 44, B = 36, T = 10, R = 18, ns = 'http://www.w3.org/2000/svg';
  const x = r => L + r * (W - L - R), y = p => H - B - p * (H - B - T);
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; svg.appendChild(e); return e; };
  add('rect', {x: L, y: T, width: W - L - R, height: H - B - T, fill: '#fff', stroke: '#999'});
  for (let t = 0; t <= 1.0001; t += 0.25) {
    add('text', {x: x(t), y: H - B + 14, 'text-anchor': 'middle'}, t.toFixed(2));
    add('text', {x: L - 6, y: y(t) + 4, 'text-anchor': 'end'}, t.toFixed(2)); }
  add('text', {x: (L + W) / 2, y: H - 4, 'text-anchor': 'middle'}, 'recall');
  add('text', {x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, 'text-anchor': 'middle'}, 'precision');
  if (!c.recall_curve.length) { add('text', {x: (L + W) / 2, y: H / 2, 'text-anchor': 'middle'}, 'no known positive'); return; }
  const pts = c.recall_curve.map((r, k) => `${x(r).toFixed(1)},${y(c.precision_curve[k]).toFixed(1)}`).join(' ');
  add('polyline', {points: pts, fill: 'none', stroke: '#1971c2', 'stroke-width': 2, id: 'curve'});
  if (c.recall !== null && c.precision !== null)
    add('circle', {cx: x(c.recall / 100), cy: y(c.precision / 100), r: 5, fill: '#e03131', id: 'operating-point'});
}
function gallery(id, items, kind) {
  const box = document.getElementById(id); box.replaceChildren();
  for (const [n, score] of items || []) { const im = D.images[n];
    const fig = el('figure', {'class': kind}); fig.appendChild(el('img', {src: im.file, alt: im.name}));
    fig.appendChild(el('figcaption', {title: im.name}, `${score.toFixed(3)} ${im.name}`));
    fig.appendChild(el('figcaption', {title: 'true: ' + im.labels.join(', ')}, 'true: ' + im.labels.join(', ')));
    box.appendChild(fig); }
  if (!(items || []).length) box.appendChild(el('div', {'class': 'note'}, 'none'));
}
function renderClass() {
  const c = D.classes[selected];
  document.getElementById('class-title').textContent = c.name + (c.group ? ` (${c.group})` : '');
  document.getElementById('class-stats').textContent = `AP ${fmt(c.ap)}  F1 ${fmt(c.f1)}  P ${fmt(c.precision)}  R ${fmt(c.recall)}  ` +
    `support ${c.positives}  unknown ${c.unknown}  ` + (c.argmax ? 'decided by argmax in its group' : `threshold ${fmt(c.threshold)}`);
  renderCurve(c);
  if (c.gallery) { gallery('fp', c.fp_images, 'fp'); gallery('fn', c.fn_images, 'fn'); }
  else for (const id of ['fp', 'fn']) { const b = document.getElementById(id); b.replaceChildren(el('div', {'class': 'note'},
    'not rendered: only the classes with the most errors get images (gallery_classes)')); }
}
const pairs = document.querySelector('#pairs tbody');
for (const p of D.pairs) { const tr = el('tr'); tr.appendChild(el('td', {'class': 'name'}, p.missed));
  tr.appendChild(el('td', {'class': 'name'}, p.predicted)); tr.appendChild(el('td', {}, String(p.count))); pairs.appendChild(tr); }
if (!D.pairs.length) pairs.appendChild(el('tr')).appendChild(el('td', {colspan: 3}, 'no confused pairs'));
if (D.heatmap) document.getElementById('heatmap').appendChild(el('img', {src: 'confusions.png', alt: 'confusion and co-occurrence heatmaps', style: 'max-width:100%'}));
const scored = D.classes.map((c, i) => i).filter(i => D.classes[i].ap !== null);
if (scored.length) selected = scored.reduce((a, b) => D.classes[b].ap < D.classes[a].ap ? b : a);  // the worst class
renderTable(); renderClass();
</script></body></html>
"""
