import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, balanced_accuracy_score, f1_score

from timm_ml.schema import LabelSchema
from timm_ml.metrics import compute_multilabel_metrics, estimate_thresholds, masked_average_precision


def random_case(seed, n=300, c=9, levels=6):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (n, c), generator=g).float() / levels - 0.5  # many ties
    target = torch.randint(-1, 2, (n, c), generator=g).to(torch.int8)
    return scores, target


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_masked_map_equals_sklearn(seed):
    scores, target = random_case(seed)
    target[:, 3] = torch.where(target[:, 3] == 1, torch.zeros_like(target[:, 3]), target[:, 3])  # no positive
    ap, valid = masked_average_precision(scores, target, chunk_elements=500)  # several class chunks
    ref = []
    for c in range(scores.shape[1]):
        k = target[:, c] >= 0
        if (target[k, c] == 1).any():
            ref.append(average_precision_score((target[k, c] == 1).numpy(), scores[k, c].numpy()))
    assert not valid[3] and valid.sum() == len(ref)
    assert np.allclose(ap[valid].numpy(), ref, atol=1e-6)
    result = compute_multilabel_metrics(scores, target, LabelSchema([f'c{i}' for i in range(9)]))
    assert abs(result.summary['map'] - 100 * np.mean(ref)) < 1e-4
    assert result.excluded == ['c3']


def numpy_f1_family(pred, target):
    known = target >= 0
    tp = ((pred == 1) & (target == 1)).sum(0).astype(float)
    fp = ((pred == 1) & (target == 0)).sum(0).astype(float)
    fn = ((pred == 0) & (target == 1)).sum(0).astype(float)
    assert known.any()
    div = lambda a, b: np.where(b > 0, a / np.maximum(b, 1), 0.)  # noqa: E731
    cp, cr = div(tp, tp + fp).mean(), div(tp, tp + fn).mean()
    op, o_r = tp.sum() / (tp + fp).sum(), tp.sum() / (tp + fn).sum()
    return dict(CP=cp, CR=cr, CF1=2 * cp * cr / (cp + cr), OP=op, OR=o_r, OF1=2 * op * o_r / (op + o_r))


def test_f1_family_equals_numpy_reference():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(400, 8, generator=g) * 2
    target = torch.randint(-1, 2, (400, 8), generator=g).to(torch.int8)
    thresholds = torch.rand(8, generator=g) * 0.8 + 0.1
    r = compute_multilabel_metrics(logits, target, threshold=0.6, thresholds=thresholds, topk=3).summary
    prob = logits.sigmoid().numpy()
    t = target.numpy()
    for prefix, pred in (
            ('', prob >= 0.6),
            ('thr_', prob >= thresholds.numpy()[None]),
            ('top3_', prob >= np.sort(prob, 1)[:, -3][:, None])):
        ref = numpy_f1_family(pred.astype(int), t)
        for k, v in ref.items():
            assert abs(r[prefix + k] - 100 * v) < 1e-6, (prefix, k)


def test_per_class_metrics_are_averaged_over_classes_not_images():
    # class 0 is frequent and perfect, class 1 rare and always missed: per-class recall mean is 50%
    target = torch.tensor([[1, 0]] * 9 + [[1, 1]]).to(torch.int8)
    logits = torch.tensor([[5., -5.]] * 10)
    r = compute_multilabel_metrics(logits, target).summary
    assert r['CR'] == pytest.approx(50.)
    assert r['OR'] == pytest.approx(100 * 10 / 11)


def test_attribute_metrics_equal_sklearn():
    g = torch.Generator().manual_seed(7)
    sizes = [3, 4]
    n = 200
    logits = torch.randn(n, 7, generator=g)
    target = torch.zeros(n, 7, dtype=torch.int8)
    truths = []
    for a, (start, k) in enumerate(((0, 3), (3, 4))):
        y = torch.randint(0, k, (n,), generator=g)
        target[torch.arange(n), start + y] = 1
        unknown = torch.rand(n, generator=g) < 0.2
        target[unknown, start:start + k] = -1
        truths.append((y, unknown, start, k))
    schema = LabelSchema.from_config(dict(classes=[f'c{i}' for i in range(7)], group_sizes=sizes,
                                          attribute_names=['neck', 'sleeve']))
    r = compute_multilabel_metrics(logits, target, schema)
    for name, (y, unknown, start, k) in zip(['neck', 'sleeve'], truths):
        keep = ~unknown
        pred = logits[keep, start:start + k].argmax(1).numpy()
        truth = y[keep].numpy()
        m = r.attributes[name]
        assert m['acc'] == pytest.approx(100 * (pred == truth).mean())
        assert m['bacc'] == pytest.approx(100 * balanced_accuracy_score(truth, pred))
        assert m['macro_f1'] == pytest.approx(100 * f1_score(truth, pred, average='macro'))
        assert m['known'] == keep.sum()


def test_estimated_thresholds_maximise_f1():
    g = torch.Generator().manual_seed(9)
    target = (torch.rand(500, 4, generator=g) < 0.3).to(torch.int8)
    # calibrated differently per class: the best threshold is not 0.5
    logits = (target.float() * 2 - 1) * 1.5 + torch.randn(500, 4, generator=g) + torch.tensor([-2., 2., 0., 1.])
    probs = logits.sigmoid()
    t = estimate_thresholds(probs, target)
    for c in range(4):
        truth = target[:, c].numpy()
        best = f1_score(truth, (probs[:, c] >= t[c]).numpy())
        grid = max(f1_score(truth, (probs[:, c] >= v).numpy()) for v in probs[:, c].unique().tolist())
        assert best == pytest.approx(grid)
    base = compute_multilabel_metrics(logits, target).summary
    tuned = compute_multilabel_metrics(logits, target, thresholds=t.float()).summary
    assert tuned['thr_CF1'] > base['CF1'] + 1


def test_masked_map_equals_timm_exact_ap_on_fully_known_targets():
    from timm.task.evaluator import _average_precision
    g = torch.Generator().manual_seed(11)
    scores = torch.randint(0, 20, (500, 30), generator=g).half()
    target = (torch.rand(500, 30, generator=g) < 0.2).to(torch.int8)
    ours, _ = masked_average_precision(scores, target, chunk_elements=3000)
    assert torch.allclose(ours, _average_precision(scores.float(), target.bool()), atol=1e-12)


def test_attribute_without_known_value_is_not_averaged_as_zero():
    logits = torch.randn(4, 5)
    target = torch.tensor([[1, 0, -1, -1, -1], [0, 1, -1, -1, -1], [1, 0, -1, -1, -1], [0, 1, -1, -1, -1]],
                          dtype=torch.int8)
    schema = LabelSchema.from_config(dict(classes=list('abcde'), group_sizes=[2, 3], attribute_names=['neck', 'pattern']))
    summary = compute_multilabel_metrics(logits, target, schema).summary
    assert np.isnan(summary['pattern_acc'])
    assert summary['attr_mean_acc'] == summary['neck_acc']


@pytest.mark.parametrize('body,message', [
    ('index,class\n0,cat\n', r'row 1: expected columns index,class,threshold'),
    ('index,class,threshold\n0,cat,abc\n1,dog,0.5\n', r"row 2: index '0' / threshold 'abc' is not a number"),
    ('index,class,threshold\n0,cat,0.5\n1,cow,0.5\n', r"row 3: class 'cow' at index 1 is not the model's class"),
    ('index,class,threshold\n0,cat,0.5\n0,cat,0.4\n', r"row 3: a second threshold for class 'cat'"),
    ('index,class,threshold\n0,cat,0.5\n1,dog,1.0\n', r"row 3: threshold '1.0' of class 'dog' is not in \(0, 1\)"),
    ('index,class,threshold\n0,cat,0.5\n', r"1 classes have no threshold, e.g. \['dog'\]"),
])
def test_threshold_file_errors_name_the_file_and_row(tmp_path, body, message):
    from timm_ml.metrics import ThresholdFileError, read_thresholds
    path = tmp_path / 'thr.csv'
    path.write_text(body)
    with pytest.raises(ThresholdFileError, match=r'thr\.csv: ' + message):
        read_thresholds(str(path), ['cat', 'dog'])
    np.save(tmp_path / 'thr.npy', np.array([0.5, 1.5]))
    with pytest.raises(ThresholdFileError, match=r"thr\.npy: thresholds must lie in \(0, 1\); class 'dog' has 1.5"):
        read_thresholds(str(tmp_path / 'thr.npy'), ['cat', 'dog'])
