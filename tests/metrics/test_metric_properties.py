""" Property tests of the metrics against independent references (sklearn, hand formulas) on random scores with
ties and random unknown (-1) patterns, in chunks of classes as at OpenImages size."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

import timm_ml.metrics.multilabel as multilabel
from timm_ml.metrics import compute_multilabel_metrics, estimate_thresholds


def _case(seed, n, c, ties):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)).astype(np.float32)
    if ties:
        logits = np.round(logits * 2) / 2  # many tied scores: one threshold each
    target = rng.integers(-1, 2, size=(n, c)).astype(np.int8)
    return logits, target


@settings(deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(1, 40), st.integers(1, 9), st.booleans(), st.integers(1, 64))
def test_masked_ap_is_sklearns_on_the_known_entries(seed, n, c, ties, chunk):
    logits, target = _case(seed, n, c, ties)
    old = multilabel.CHUNK_ELEMENTS
    multilabel.CHUNK_ELEMENTS = chunk  # a few classes per chunk, as at 200k x 10k
    try:
        result = compute_multilabel_metrics(torch.from_numpy(logits), torch.from_numpy(target))
    finally:
        multilabel.CHUNK_ELEMENTS = old
    aps = []
    for k, row in enumerate(result.per_class):
        known = target[:, k] >= 0
        if not (target[known, k] == 1).any():
            assert np.isnan(row['ap'])  # no known positive: reported as such and left out of the mean
            continue
        expected = 100 * average_precision_score(target[known, k], logits[known, k])
        assert row['ap'] == pytest.approx(expected, abs=1e-9)
        aps.append(expected)
    assert (np.isnan(result.summary['map']) and not aps) or result.summary['map'] == pytest.approx(np.mean(aps))


@settings(deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(1, 40), st.integers(1, 9), st.floats(0.05, 0.95))
def test_f1_family_is_the_hand_formula_over_known_entries(seed, n, c, threshold):
    logits, target = _case(seed, n, c, False)
    summary = compute_multilabel_metrics(torch.from_numpy(logits), torch.from_numpy(target), threshold=threshold).summary
    pred = 1 / (1 + np.exp(-logits.astype(np.float64))) >= threshold
    tp = ((pred & (target == 1)).sum(0)).astype(float)
    fp = ((pred & (target == 0)).sum(0)).astype(float)
    fn = ((~pred & (target == 1)).sum(0)).astype(float)
    ratio = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731 - 0/0 counts as 0
    valid = (target == 1).sum(0) > 0  # mAP's rule: the per-class means over the classes with a known positive
    cp = ratio(tp, tp + fp)[valid].mean() if valid.any() else 0.
    cr = ratio(tp, tp + fn)[valid].mean() if valid.any() else 0.
    op = tp.sum() / (tp + fp).sum() if (tp + fp).sum() else 0.
    o_r = tp.sum() / (tp + fn).sum() if (tp + fn).sum() else 0.
    f1 = lambda p, r: 2 * p * r / (p + r) if p + r else 0.  # noqa: E731
    for key, value in (('CP', cp), ('CR', cr), ('CF1', f1(cp, cr)), ('OP', op), ('OR', o_r), ('OF1', f1(op, o_r))):
        assert summary[key] == pytest.approx(100 * value, abs=1e-9), key


@settings(deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(2, 40), st.integers(1, 6))
def test_estimated_thresholds_are_f1_optimal_per_class(seed, n, c):
    logits, target = _case(seed, n, c, True)
    scores = torch.from_numpy(logits).sigmoid()
    t = estimate_thresholds(scores, torch.from_numpy(target)).numpy()
    for k in range(c):
        known = target[:, k] >= 0
        y, s = target[known, k] == 1, scores.numpy()[known, k]
        if not y.any():
            assert t[k] == pytest.approx(0.5)
            continue
        f1 = lambda cut: 2 * (y & (s >= cut)).sum() / ((s >= cut).sum() + y.sum())  # noqa: E731
        best = max(f1(cut) for cut in np.unique(s))
        assert f1(t[k]) == pytest.approx(best)


@settings(deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(1, 40), st.floats(0.05, 0.95), st.booleans())
def test_the_metrics_count_what_the_one_decoder_predicts(seed, n, threshold, per_class):
    """Tags under a parent label (OTX h-label) are predicted only under their predicted parent by infer.py, the
    exports and the torch-free reader (schema.decode): validate.py's per-class precision and recall count the same
    decisions (regression: the metrics thresholded those tags alone)."""
    from timm_ml.schema import LabelGroup, LabelSchema, decode
    from timm_ml.scoring import scores_from_logits
    schema = LabelSchema(['animal', 'vehicle', 'cat', 'dog', 'car', 'striped', 'fast', 'red'],
                         [LabelGroup('kind', ['animal', 'vehicle'], 0),
                          LabelGroup('animal', ['cat', 'dog'], 2, parent='animal')],
                         tag_parents={'striped': 'animal', 'fast': 'vehicle'})
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(size=(n, 8)).astype(np.float32))
    target = torch.from_numpy(rng.integers(-1, 2, size=(n, 8)).astype(np.int8))
    thresholds = torch.from_numpy(rng.uniform(0.05, 0.95, 8).astype(np.float32)) if per_class else None
    result = compute_multilabel_metrics(logits, target, schema, schema, threshold, thresholds)
    cut = thresholds.numpy() if per_class else np.full(8, threshold, np.float32)
    pred = decode(scores_from_logits(logits, schema).numpy(), schema, cut)
    t = target.numpy()
    for c in schema.multilabel:
        tp, fp, fn = (pred[:, c] & (t[:, c] == 1)).sum(), (pred[:, c] & (t[:, c] == 0)).sum(), \
            (~pred[:, c] & (t[:, c] == 1)).sum()
        row = result.per_class[c]
        assert row['precision'] == pytest.approx(100 * tp / (tp + fp) if tp + fp else 0., abs=1e-9), schema.classes[c]
        assert row['recall'] == pytest.approx(100 * tp / (tp + fn) if tp + fn else 0., abs=1e-9), schema.classes[c]
