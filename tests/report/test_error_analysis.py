""" The error-analysis page's numbers against independent references: PR curves against sklearn, decisions, confused
pairs by brute force; class names cannot break out of the page."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.metrics import precision_recall_curve

from timm_ml.report import write_error_report
from timm_ml.report.error_analysis import MAX_CURVE_POINTS, _json_for_script, confused_pairs, decisions, pr_curve
from timm_ml.schema import LabelGroup, LabelSchema
from timm_ml.utils.outputs import OutputError


@settings(deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(2, 150))
def test_pr_curve_is_sklearns_on_the_known_entries(seed, n):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 20, n).astype(np.float32) / 20  # ties
    target = rng.integers(-1, 2, n).astype(np.int8)
    recall, precision = pr_curve(scores, target, max_points=10 ** 6)
    known = target >= 0
    if not (target[known] == 1).any():
        assert recall == [] and precision == []
        return
    p, r, _ = precision_recall_curve(target[known] == 1, scores[known])
    ref = sorted({(round(float(a), 5), round(float(b), 5)) for a, b in zip(r[:-1], p[:-1])})  # sklearn's end point
    assert sorted(set(zip(recall, precision))) == ref and len(recall) == len(np.unique(scores[known]))


def test_pr_curve_thins_long_curves_and_keeps_its_ends():
    rng = np.random.default_rng(0)
    scores, target = rng.random(5000).astype(np.float32), rng.integers(0, 2, 5000).astype(np.int8)
    full = pr_curve(scores, target, max_points=10 ** 6)
    thin = pr_curve(scores, target)
    assert len(thin[0]) <= MAX_CURVE_POINTS + 2
    assert (thin[0][0], thin[1][0]) == (full[0][0], full[1][0]) and (thin[0][-1], thin[1][-1]) == (full[0][-1],
                                                                                                   full[1][-1])


def test_decisions_threshold_multilabel_columns_and_argmax_groups():
    schema = LabelSchema(['a', 'b', 'x', 'y', 'z'], [LabelGroup('g', ['x', 'y', 'z'], 2)])
    scores = np.array([[0.6, 0.2, 0.1, 0.7, 0.2], [0.4, 0.9, 0.5, 0.2, 0.3]], np.float32)
    got = decisions(scores, schema, np.array([0.5, 0.95, 0.99, 0.99, 0.99], np.float32))
    assert got.tolist() == [[True, False, False, True, False], [False, False, True, False, False]]


@settings(deadline=None)
@given(st.integers(0, 2 ** 31 - 1))
def test_confused_pairs_count_each_image_once_per_pair(seed):
    rng = np.random.default_rng(seed)
    target = rng.integers(-1, 2, (30, 5)).astype(np.int8)
    pred = rng.random((30, 5)) < 0.4
    pairs, counts = confused_pairs(pred, target, top=25)
    for i in range(5):
        for j in range(5):
            expected = 0 if i == j else sum(target[n, i] == 1 and not pred[n, i] and pred[n, j] and target[n, j] == 0
                                            for n in range(30))
            assert counts[i, j] == expected
    assert [c for _, _, c in pairs] == sorted((c for _, _, c in pairs), reverse=True) and all(c > 0 for *_, c in pairs)


def test_class_names_cannot_end_the_script_or_inject_markup():
    hostile = '</script><script>alert(1)</script><!--'
    text = _json_for_script(dict(name=hostile, ap=float('nan')))
    assert '<' not in text and '>' not in text and json.loads(text) == dict(name=hostile, ap=None)


def _rows(schema, scores, target):
    from timm_ml.metrics import compute_multilabel_metrics
    import torch
    p = torch.from_numpy(scores.astype(np.float64)).clamp(1e-9, 1 - 1e-9)
    result = compute_multilabel_metrics((torch.log(p) - torch.log1p(-p)).float(), torch.from_numpy(target), schema,
                                        schema)
    return result


def test_report_folder_holds_only_the_report_and_refuses_other_files(tmp_path):
    schema = LabelSchema(['cat', 'dog'])
    rng = np.random.default_rng(0)
    scores = rng.random((12, 2)).astype(np.float32)
    target = rng.integers(0, 2, (12, 2)).astype(np.int8)
    result = _rows(schema, scores, target)
    args = (scores, target, [f'{i}.png' for i in range(12)], lambda i: Image.new('RGB', (40, 30), (i * 20, 0, 0)),
            schema, np.full(2, 0.5, np.float32), result.per_class, result.summary, 'title')
    write_error_report(str(tmp_path / 'r'), *args)
    write_error_report(str(tmp_path / 'r'), *args)  # written again over itself
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'train.csv').write_text('path,labels\n')
    with pytest.raises(OutputError, match=r"data: that folder exists and is not an output of ours"):
        write_error_report(str(tmp_path / 'data'), *args)
    assert (tmp_path / 'data' / 'train.csv').read_text() == 'path,labels\n'
    assert '<meta name="generator" content="timm_ml">' in (tmp_path / 'r' / 'index.html').read_text()
    data = json.load(open(tmp_path / 'r' / 'report.json'))
    pred = scores >= 0.5
    assert [c['fp'] for c in data['classes']] == [int((pred[:, k] & (target[:, k] == 0)).sum()) for k in range(2)]
    assert [c['ap'] for c in data['classes']] == pytest.approx([r['ap'] for r in result.per_class])
