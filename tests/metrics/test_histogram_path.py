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


# --- found by an adversarial pass (each failed before its fix) ---

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_16_bit_scores_below_the_histogram_size_meet_thresholds_in_float32(dtype):
    """The cut logit(t) was rounded to the nearest 16-bit value: an entry between the two was decided wrongly."""
    threshold = 1 / (1 + np.exp(-1.0002))  # logit 1.0002 lies between float16's 1.0 and 1.000977
    scores = torch.tensor([[1.0], [0.0], [2.0], [-1.0]], dtype=dtype)  # sigmoid(1.0) = 0.73106 < threshold
    target = torch.tensor([[1], [0], [1], [0]], dtype=torch.int8)
    assert scores.shape[0] < multilabel.HISTOGRAM_MIN_ROWS
    result = compute_multilabel_metrics(scores, target, threshold=threshold, thresholds=torch.tensor([threshold]))
    assert result.per_class[0]['recall'] == 50.0
    assert result.summary['thr_CR'] == 50.0


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
def test_large_finite_scores_are_not_called_non_finite(dtype):
    """The finiteness check summed the scores: large finite logits overflowed it and were called a diverged model."""
    big = 3e38 if dtype != torch.float16 else 6e4
    scores = torch.tensor([[big], [big], [-1.0], [0.0]], dtype=dtype)
    target = torch.tensor([[1], [0], [1], [0]], dtype=torch.int8)
    expected = average_precision_score([1, 0, 1, 0], scores.float().numpy()[:, 0]) * 100
    assert compute_multilabel_metrics(scores, target).summary['map'] == pytest.approx(expected)


def test_column_major_16_bit_scores_take_the_histogram_path(monkeypatch):
    """A transposed (column-major) tensor crashed the histogram's flat view."""
    _histogram_path(monkeypatch)
    scores, target = _case(3, 50, 7, torch.float16, True, 0.2)
    column_major = scores.t().contiguous().t()
    assert not column_major.is_contiguous()
    assert compute_multilabel_metrics(column_major, target).summary == \
        compute_multilabel_metrics(scores.float(), target).summary


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_unknown_entries_never_count_at_a_minus_inf_top_k(monkeypatch, dtype):
    """With a row's k-th score -inf (a -inf logit at a known negative), its unknown entries (also -inf) were counted
    as top-k false positives by the bucketing path: 2 TP of 4 known predicted is 50."""
    if dtype == torch.float16:
        _histogram_path(monkeypatch)
    scores = torch.tensor([[3.0, float('-inf'), 0.5], [2.0, 1.0, float('-inf')]], dtype=dtype)
    target = torch.tensor([[1, 0, -1], [0, 1, -1]], dtype=torch.int8)
    assert compute_multilabel_metrics(scores, target, topk=3).summary['top3_OP'] == 50.0


def test_sparse_float16_store_ranks_top_k_among_the_stored_values():
    """Sparse storage took each row's k-th score before rounding to float16 and compared it with rounded scores."""
    from timm_ml.metrics import MultiLabelEvaluator
    from timm_ml.schema import LabelSchema
    rng = np.random.default_rng(7)
    logits = torch.from_numpy(rng.normal(size=(2000, 10))).float()
    target = torch.from_numpy((rng.random((2000, 10)) < 0.3).astype(np.float32))
    target[torch.from_numpy(rng.random((2000, 10)) < 0.6)] = -1
    found = {}
    for storage in ('dense', 'sparse'):
        evaluator = MultiLabelEvaluator(torch.device('cpu'), store_dtype=torch.float16, storage=storage, topk=3,
                                        schema=LabelSchema([str(i) for i in range(10)]))
        evaluator.reset()
        for start in range(0, 2000, 500):
            evaluator.update(logits[start:start + 500], target[start:start + 500])
        found[storage] = evaluator.compute()
        assert evaluator.mode == storage
    for name in ('top3_OP', 'top3_OR', 'top3_CP', 'top3_CR', 'map'):
        assert found['sparse'][name] == pytest.approx(found['dense'][name], abs=1e-9), name


@pytest.mark.parametrize('bad', [2, -2, 127, 0.95])
def test_targets_other_than_the_three_states_are_refused(monkeypatch, bad):
    """A 2 / -2 was counted in a neighbouring class's histogram; 0.95 was truncated to a negative."""
    _histogram_path(monkeypatch)
    scores, target = _case(5, 30, 4, torch.float16, False, 0.1)
    target = target.float()
    target[3, 1] = bad
    with pytest.raises(ValueError, match='targets must be 1 / 0 / -1'):
        compute_multilabel_metrics(scores, target)
