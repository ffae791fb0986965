""" Predictions from scores, written as CSV, JSON or JSON Lines: the decoding (timm_ml.schema.decode: top-down argmax
per exclusive group, thresholds on the multi-label block) shared by infer.py and the torch-free ONNX reader.
numpy only."""
import csv
import json
from typing import Dict, Optional, Sequence

import numpy as np

from timm_ml.schema import LabelSchema, decode
from timm_ml.utils.escape import spreadsheet_cell as cell
from timm_ml.utils.writer import write_file


def group_names(schema: LabelSchema):
    """Attribute / tree level names in column order (groups of one name under several parents share one column)."""
    return list(dict.fromkeys(g.name for g in schema.groups))


def _top(scores_row, schema, topk):
    cols = schema.multilabel if len(schema.multilabel) else np.arange(schema.num_classes)
    order = cols[np.argsort(-scores_row[cols], kind='stable')[:topk]]
    return [schema.classes[i] for i in order]


def prediction_records(paths, scores, schema: LabelSchema, thresholds, topk: int = 3,
                       errors: Optional[Dict[int, str]] = None):
    """ One dict per image: path, labels (the decoded classes), one entry per group name (its predicted value; absent
    when its parent was not predicted), tags (multi-label classes predicted), topk, scores by class; unreadable images
    {path, error}."""
    pred = decode(scores, schema, thresholds)
    names = group_names(schema)
    for i, path in enumerate(paths):
        if errors and i in errors:
            yield dict(path=path, error=errors[i])
            continue
        s, p = scores[i], pred[i]
        record = dict(path=path, labels=[schema.classes[c] for c in np.flatnonzero(p)])
        for name in names:
            for g in schema.groups:
                hit = np.flatnonzero(p[g.start:g.end]) if g.name == name else ()
                if len(hit):
                    record[name] = dict(value=g.values[int(hit[0])], score=round(float(s[g.start + hit[0]]), 6))
        if len(schema.multilabel):
            record['tags'] = [schema.classes[c] for c in schema.multilabel if p[c]]
        record['topk'] = _top(s, schema, topk)
        record['scores'] = {c: round(float(v), 6) for c, v in zip(schema.classes, s)}
        yield record


def write_predictions_csv(out_path, paths, scores, schema, thresholds, topk=3, column_names=None, errors=None):
    """`path, labels, top<k>, [tags], [error], Predicted <group>, Score <group> ..., score_<class> ...` (tags: the
    multi-label classes of a schema that also has groups)."""
    names = group_names(schema)
    mixed = bool(schema.groups) and len(schema.multilabel) > 0
    header = ['path', 'labels', f'top{topk}'] + (['tags'] if mixed else []) + (['error'] if errors else [])
    for name in names:
        display = (column_names or {}).get(name, name)
        header += [f'Predicted {display}', f'Score {display}']
    header += [f'score_{c}' for c in schema.classes]
    holding = [c for c in schema.classes if ';' in c]
    if holding:  # the labels / top-k cells join names with ';'
        raise ValueError(f'class names {holding[:3]} hold ";", which joins the labels of a CSV cell: they could not be '
                         'read back; write --format json or jsonl')

    def write(tmp):  # a file name that is not UTF-8 is written back as its own bytes (surrogateescape)
        with open(tmp, 'w', newline='', encoding='utf-8', errors='surrogateescape') as f:
            w = csv.writer(f)
            w.writerow(header)
            for r in prediction_records(paths, scores, schema, thresholds, topk, errors):
                if 'error' in r:
                    w.writerow([cell(r['path']), '', ''] + ([''] if mixed else []) + [cell(r['error'])] +
                               [''] * (len(header) - 4 - mixed))
                    continue
                row = [cell(r['path']), cell(';'.join(r['labels'])), cell(';'.join(r['topk']))] + \
                    ([cell(';'.join(r['tags']))] if mixed else []) + ([''] if errors else [])
                for name in names:
                    row += [cell(r[name]['value']), f'{r[name]["score"]:.6f}'] if name in r else ['', '']
                row += [f'{r["scores"][c]:.6f}' for c in schema.classes]
                w.writerow(row)
    return write_file(out_path, write, '--output', kinds=('predictions',))


def write_predictions_json(out_path, paths, scores, schema, thresholds, topk=3, errors=None, lines=False):
    """JSON (one document with the classes, thresholds and a list of predictions) or JSON Lines (one per image)."""
    records = prediction_records(paths, scores, schema, thresholds, topk, errors)

    def write(tmp):
        with open(tmp, 'w') as f:
            if lines:
                for r in records:
                    f.write(json.dumps(r) + '\n')
            else:
                json.dump(dict(classes=schema.classes, thresholds=[float(t) for t in thresholds],
                               schema=schema.to_dict(), predictions=list(records)), f)
    return write_file(out_path, write, '--output', kinds=('predictions',))


def thresholds_for(schema: LabelSchema, saved: Optional[Sequence[float]], threshold: Optional[float]) -> np.ndarray:
    """The per-class thresholds to decide with: a global --threshold, else the saved per-class ones (checked: one per
    class), else 0.5."""
    if threshold is not None:
        return np.full(schema.num_classes, threshold, dtype=np.float32)
    if saved is not None:
        if len(saved) != schema.num_classes:
            raise ValueError(f'{len(saved)} saved thresholds for {schema.num_classes} classes')
        return np.asarray(saved, dtype=np.float32)
    return np.full(schema.num_classes, 0.5, dtype=np.float32)
