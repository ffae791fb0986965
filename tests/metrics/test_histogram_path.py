""" The 16-bit histogram path (float16 / bfloat16 stored outputs) gives exactly the numbers of the float32 bucketing
path on the same values, and sklearn's AP: ties, both zeros, subnormals, the largest values, -inf at negatives,
unknowns, cuts between representable values, per-class thresholds and top-k."""
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

import timm_ml.metrics.multilabel as multilabel
from timm_ml.metrics import compute_multilabel_metrics
from timm_ml.metrics.average_precision import NonFiniteScoresError

SPECIAL = [0.0, -0.0, 6e-8, -6e-8, 1e-5, 65504.0, -65504.0, 0.5, -0.5]


def _case(seed, n, c, dtype, ties, unknown):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=rng.choice([1e-3, 1.0, 30.0]), size=(n, c))
    if ties:
        logits = np.round(logits * 2) / 2
    special = rng.random((n, c)) < 0.15
    logits[special] = rng.choice(SPECIAL, size=int(special.sum()))
    target = (rng.random((n, c)) < 0.3).astype(np.int8)
    target[rng.random((n, c)) < unknown] = -1
    scores = torch.from_numpy(logits).float().to(dtype)  # the stored values; every path scores exactly these
    return scores, torch.from_numpy(target)


def _histogram_path(monkeypatch):
    monkeypatch.setattr(multilabel, 'HISTOGRAM_MIN_ROWS', 1)
    monkeypatch.setattr(multilabel, 'HISTOGRAM_CLASSES', 3)  # several class passes


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 2 ** 31 - 1), st.integers(1, 60), st.integers(1, 8), st.sampled_from(['float16', 'bfloat16']),
       st.booleans(), st.floats(0.0, 0.9), st.floats(0.01, 0.99))
@example(0, 5, 2, 'float16', True, 0.0, 0.5)
def test_histogram_path_equals_the_float32_path_and_sklearn(seed, n, c, dtype, ties, unknown, threshold):
    scores, target = _case(seed, n, c, getattr(torch, dtype), ties, unknown)
    rng = np.random.default_rng(seed + 1)
    thresholds = torch.from_numpy(rng.choice([threshold, 0.5, 0.7310586, 1e-7, 0.9999], size=c)).float()
    with pytest.MonkeyPatch.context() as mp:
        _histogram_path(mp)
        fast = compute_multilabel_metrics(scores, target, threshold=threshold, thresholds=thresholds)
    reference = compute_multilabel_metrics(scores.float(), target, threshold=threshold, thresholds=thresholds)
    for key, value in reference.summary.items():
        assert fast.summary[key] == pytest.approx(value, abs=1e-9, nan_ok=True), key
    for mine, theirs in zip(fast.per_class, reference.per_class):
        assert mine == pytest.approx(theirs, abs=1e-9, nan_ok=True)
    values = scores.float().numpy()
    for k, row in enumerate(fast.per_class):
        known = target[:, k].numpy() >= 0
        if (target[:, k].numpy()[known] == 1).any():
            expected = 100 * average_precision_score(target[:, k].numpy()[known], values[known, k])
            assert row['ap'] == pytest.approx(expected, abs=1e-9)


def test_histogram_path_is_taken_for_16_bit_scores(monkeypatch):
    calls = []
    real = multilabel.histogram_statistics
    monkeypatch.setattr(multilabel, 'histogram_statistics', lambda *a: calls.append(1) or real(*a))
    scores, target = _case(0, 40, 5, torch.float16, False, 0.3)
    monkeypatch.setattr(multilabel, 'HISTOGRAM_MIN_ROWS', 1)
    compute_multilabel_metrics(scores, target)
    assert calls
    calls.clear()
    compute_multilabel_metrics(scores.float(), target)
    assert not calls


@pytest.mark.parametrize('bad, where', [(float('nan'), 0), (float('inf'), 0), (float('-inf'), 1)])
def test_histogram_path_refuses_non_finite_scores(monkeypatch, bad, where):
    _histogram_path(monkeypatch)
    scores, target = _case(1, 30, 4, torch.float16, False, 0.0)
    target[3, 2] = where
    scores[3, 2] = bad
    with pytest.raises(NonFiniteScoresError):
        compute_multilabel_metrics(scores, target)
    target[3, 2] = -1  # an unknown entry is never scored
    compute_multilabel_metrics(scores, target)


def test_minus_inf_at_a_known_negative_ranks_last(monkeypatch):
    _histogram_path(monkeypatch)
    scores, target = _case(2, 30, 4, torch.float16, False, 0.0)
    target[:, 1] = 0
    target[:3, 1] = 1
    scores[5, 1] = float('-inf')
    fast = compute_multilabel_metrics(scores, target)
    column = scores[:, 1].float().numpy()
    column[5] = -1e30  # below every float16 value (sklearn refuses inf)
    assert fast.per_class[1]['ap'] == pytest.approx(
        100 * average_precision_score(target[:, 1].numpy(), column), abs=1e-9)


def test_two_thread_bincount_equals_torchs():
    """The histogram pass counts two halves at once above 2^20 entries (the bench's sizes): same counts."""
    from timm_ml.metrics.average_precision import _bincount
    index = torch.randint(0, 3 * 65536, ((1 << 20) + 7,), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
    assert torch.equal(_bincount(index, 3 * 65536 + 5), torch.bincount(index, minlength=3 * 65536 + 5))
