""" The default recipes: what a user gets from --ml-head X or --loss Y alone."""

import numpy as np
import pytest
import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2

from timm_ml.data.targets import SparseTargets
from timm_ml.loss import create_ml_loss, label_frequency_prior
from timm_ml.models import create_ml_model, head_parameters
from timm_ml.optim import head_lr_param_groups
from timm_ml.recipes import resolve_head_lr_scale, resolve_loss_type


@pytest.mark.parametrize('ml_head,loss', [('linear', 'bce'), ('mldecoder', 'asl'), ('cosine', 'aam'),
                                          ('attributes', 'ce'), ('hierarchical', 'ce'), ('gcn', 'bce'), ('ssgrl', 'bce')])
def test_head_recipe_losses(ml_head, loss):
    assert resolve_loss_type(None, ml_head) == loss
    assert resolve_loss_type('zlpr', ml_head) == 'zlpr'


@pytest.mark.parametrize('ml_head,scale', [('linear', 1.), ('cosine', 1.), ('mldecoder', 1.), ('gcn', 1.),
                                           ('ssgrl', 1.)])
def test_head_recipe_lr_scales(ml_head, scale):
    assert resolve_head_lr_scale(None, ml_head) == scale
    assert resolve_head_lr_scale(3., ml_head) == 3.
    with pytest.raises(ValueError, match='--head-lr-scale must be > 0'):
        resolve_head_lr_scale(0., ml_head)


def test_aam_and_asl_defaults_are_the_published_recipes():
    aam = create_ml_loss('aam')
    assert (aam.s, aam.m, aam.k) == (23., 0., 0.7)
    asl = create_ml_loss('asl').base
    assert (asl.gamma_pos, asl.gamma_neg, asl.clip) == (0., 4., 0.05)


@pytest.mark.parametrize('ml_head', ['linear', 'mldecoder'])
def test_head_lr_scale_reaches_the_optimizer_and_survives_the_schedule(ml_head):
    model = create_ml_model('test_resnet', list('abcd'), ml_head)
    head = {id(p) for p in head_parameters(model)}
    assert head and len(head) < len(list(model.parameters()))
    optimizer = create_optimizer_v2(model, 'adamw', lr=1e-3, weight_decay=0.05,
                                    param_group_fn=head_lr_param_groups(head_parameters(model), 5., 0.05))
    # every parameter exactly once; timm's decay rule kept (no decay on biases / norms)
    seen = [id(p) for g in optimizer.param_groups for p in g['params']]
    assert sorted(seen) == sorted(id(p) for p in model.parameters() if p.requires_grad) and len(seen) == len(set(seen))
    for g in optimizer.param_groups:
        assert g['lr_scale'] == (5. if id(g['params'][0]) in head else 1.)
        assert all((id(p) in head) == (g['lr_scale'] == 5.) for p in g['params'])
        assert g['weight_decay'] == (0. if g['params'][0].ndim <= 1 else 0.05)
    scheduler, _ = create_scheduler_v2(optimizer, 'cosine', num_epochs=4, warmup_epochs=1, warmup_lr=1e-5)
    for epoch in (0, 2):
        scheduler.step(epoch)
        backbone_lr = next(g['lr'] for g in optimizer.param_groups if g['lr_scale'] == 1.)
        head_lr = next(g['lr'] for g in optimizer.param_groups if g['lr_scale'] == 5.)
        assert head_lr == pytest.approx(5 * backbone_lr)


def test_label_frequency_prior_counts_known_entries_only():
    t = np.array([[1, 0, -1], [1, -1, -1], [0, 1, -1], [-1, 1, -1]], dtype=np.int8)
    np.testing.assert_allclose(label_frequency_prior(SparseTargets.from_dense(t)), [2 / 3, 2 / 3, 0.])


def test_selective_with_label_prior_ignores_unknowns_of_frequent_classes():
    prior = np.array([0.5, 0.01])
    loss = create_ml_loss('csl', partial_loss_mode='selective', likelihood_topk=0, prior_threshold=0.05,
                          label_prior=prior)
    target = torch.tensor([[-1., -1.], [1., 0.]])
    weight = loss.partial_weight(torch.full((2, 2), 0.3), target)
    # class 0 (prior 0.5) has its unknown ignored; class 1 (prior 0.01) keeps it as a negative
    assert weight.tolist() == [[0., 1.], [1., 1.]]
