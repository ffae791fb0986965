""" The label schema, the one scoring function and the decoder: properties over random trees with tags."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from timm_ml.metrics import compute_multilabel_metrics
from timm_ml.schema import LabelGroup, LabelSchema, SchemaError, complete_hierarchy, decode
from timm_ml.scoring import scores_from_logits
from tests.strategies import random_targets, schemas


@settings(deadline=None)
@given(schemas(), st.integers(0, 2 ** 31 - 1))
def test_scores_are_a_softmax_per_group_and_a_sigmoid_per_tag(schema, seed):
    logits = torch.randn(5, schema.num_classes, generator=torch.Generator().manual_seed(seed)) * 4
    scores = scores_from_logits(logits, schema)
    for g in schema.groups:
        assert torch.allclose(scores[:, g.start:g.end], logits[:, g.start:g.end].softmax(-1))
    ml = torch.as_tensor(schema.multilabel, dtype=torch.long)
    assert torch.allclose(scores[:, ml], logits[:, ml].sigmoid())
    assert LabelSchema.from_dict(schema.to_dict()) == schema


@settings(deadline=None)
@given(schemas(), st.integers(0, 2 ** 31 - 1))
def test_decoding_is_top_down_and_consistent(schema, seed):
    rng = np.random.default_rng(seed)
    scores = scores_from_logits(torch.from_numpy(rng.normal(size=(20, schema.num_classes)) * 3).float(),
                                schema).numpy()
    thresholds = rng.uniform(0.05, 0.95, schema.num_classes)
    pred = decode(scores, schema, thresholds)
    for g in schema.groups:
        block = pred[:, g.start:g.end]
        active = np.ones(len(pred), bool) if g.parent is None else pred[:, schema.column(g.parent)]
        assert (block[active].sum(1) == 1).all() and (block[~active].sum(1) == 0).all()
        choice = g.start + scores[:, g.start:g.end].argmax(1)
        assert pred[np.arange(len(pred))[active], choice[active]].all()
    ml = schema.multilabel
    assert (pred[:, ml] == (scores[:, ml] >= thresholds[ml])).all()
    if schema.levels():  # a consistent decoder is consistent by construction, whatever the raw argmaxes do
        target = random_targets(schema, rng, 20)
        summary = compute_multilabel_metrics(torch.from_numpy(rng.normal(size=scores.shape)).float(),
                                             torch.from_numpy(target), schema).summary
        assert summary['hier_consistency'] == 100.


@settings(deadline=None)
@given(schemas(), st.integers(0, 2 ** 31 - 1))
def test_tree_rules_on_targets(schema, seed):
    rng = np.random.default_rng(seed)
    raw = rng.integers(-1, 2, (30, schema.num_classes)).astype(np.int8)
    for g in schema.groups:  # groups annotated one-hot or not at all, children often without their parent
        known = rng.random(30) < 0.6
        raw[:, g.start:g.end] = -1
        raw[known, g.start:g.end] = 0
        raw[known, g.start + rng.integers(0, len(g.values), known.sum())] = 1
    try:
        t = complete_hierarchy(raw.copy(), schema)
    except ValueError as e:
        assert 'lies under' in str(e)  # a child under a parent annotated otherwise: named, never resolved silently
        return
    assert (complete_hierarchy(t.copy(), schema) == t).all()  # idempotent
    for g in schema.groups:
        if g.parent is None:
            continue
        p, block = t[:, schema.column(g.parent)], t[:, g.start:g.end]
        assert (p[(block == 1).any(1)] == 1).all()  # a known child implies its parent
        assert (block[p == -1] == -1).all()  # an unknown parent makes its subtree unknown
        assert (block[p == 0] == 0).all()  # under a known-negative parent nothing applies


def test_schema_refuses_what_cannot_describe_outputs():
    with pytest.raises(SchemaError, match='overlaps'):
        LabelSchema(['a', 'b', 'c'], [LabelGroup('x', ['a', 'b'], 0), LabelGroup('y', ['b', 'c'], 1)])
    with pytest.raises(SchemaError, match='must be a value of an earlier exclusive group'):
        LabelSchema(['a', 'b', 'c', 'd'], [LabelGroup('x', ['a', 'b'], 0, parent='c'), LabelGroup('y', ['c', 'd'], 2)])
    with pytest.raises(SchemaError, match='non-empty strings'):
        LabelSchema(['a', ' '])
    with pytest.raises(SchemaError, match='duplicate class names'):
        LabelSchema(['a', 'a'])


def test_thresholds_never_decide_an_exclusive_group():
    """Per-class thresholds apply to the multi-label block only: on a group, extreme thresholds change nothing (the
    bug class: thresholds tuned on sigmoids then applied to softmax scores)."""
    schema = LabelSchema.from_config(dict(classes=['n=a', 'n=b', 'n=c', 'p=x', 'p=y'], group_sizes=[3, 2],
                                          attribute_names=['n', 'p']))
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 5, generator=g)
    target = torch.zeros(40, 5, dtype=torch.int8)
    target[torch.arange(40), torch.randint(0, 3, (40,), generator=g)] = 1
    target[torch.arange(40), 3 + torch.randint(0, 2, (40,), generator=g)] = 1
    plain = compute_multilabel_metrics(logits, target, schema).summary
    extreme = compute_multilabel_metrics(logits, target, schema, thresholds=torch.full((5,), 0.999)).summary
    assert extreme['thr_CF1'] == pytest.approx(plain['CF1']) and extreme['thr_OF1'] == pytest.approx(plain['OF1'])
    assert 'top3_CF1' not in plain  # no top-k over softmax groups
    # the decoded argmax per group is what CP..OF1 score: OP = OR = accuracy over both groups here
    acc = np.mean([(logits[:, :3].argmax(1) == target[:, :3].argmax(1)).float().mean().item(),
                   (logits[:, 3:].argmax(1) == target[:, 3:].argmax(1)).float().mean().item()])
    assert plain['OP'] == pytest.approx(100 * acc) and plain['attr_mean_acc'] == pytest.approx(100 * acc)


def test_two_trees_whose_child_groups_share_a_name_keep_both_levels():
    """Levels were keyed by group name: a second tree's 'kind' level replaced the first's, whose columns then fell in
    no level (adversarial pass)."""
    schema = LabelSchema(['rect', 'tri', 'red', 'blue', 'square', 'oblong', 'crimson', 'scarlet'],
                         [LabelGroup('shape', ['rect', 'tri'], 0), LabelGroup('color', ['red', 'blue'], 2),
                          LabelGroup('kind', ['square', 'oblong'], 4, parent='rect'),
                          LabelGroup('kind', ['crimson', 'scarlet'], 6, parent='red')])
    levels = schema.levels()
    assert sorted(c for columns in levels.values() for c in columns) == list(range(8))
    assert levels['shape/kind'] == [4, 5] and levels['color/kind'] == [6, 7]
