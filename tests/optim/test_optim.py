""" Optimizers: gradient centralization by hand, AdamP parity, early stopping."""
import pytest
import torch
import torch.nn as nn
from timm.optim import AdamP, create_optimizer_v2

from timm_ml.optim import add_gradient_centralization
from timm_ml.utils.early_stop import EarlyStopping


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def one_step(model, optimizer):
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    model(x).pow(2).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer.step()
    return before, grads


@pytest.mark.parametrize('conv_only', [False, True])
def test_gc_step_equals_hand_computed(conv_only):
    model = small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    add_gradient_centralization(opt, conv_only=conv_only)
    before, grads = one_step(model, opt)
    for name, p in model.named_parameters():
        g = grads[name]
        centralize = g.ndim > 3 if conv_only else g.ndim > 1
        if centralize:
            g = g - g.mean(dim=tuple(range(1, g.ndim)), keepdim=True)
        assert torch.allclose(p.detach(), before[name] - 0.1 * g, atol=1e-6), name


def test_adamp_without_gc_equals_timm_adamp_and_with_gc_uses_centralized_grads():
    a, b, c = small_model(), small_model(), small_model()
    opt_a = create_optimizer_v2(a, 'adamp', lr=0.01, weight_decay=0.)
    opt_b = AdamP(b.parameters(), lr=0.01, wd_ratio=0.01, nesterov=True)  # create_optimizer_v2's adamp defaults
    one_step(a, opt_a)
    one_step(b, opt_b)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    # GC hook on: same as AdamP stepping on gradients centralized by hand
    opt_c = AdamP(c.parameters(), lr=0.01)
    add_gradient_centralization(opt_c)
    d = small_model()
    opt_d = AdamP(d.parameters(), lr=0.01)
    one_step(c, opt_c)
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    d(x).pow(2).sum().backward()
    for p in d.parameters():
        if p.grad.ndim > 1:
            p.grad -= p.grad.mean(dim=tuple(range(1, p.grad.ndim)), keepdim=True)
    opt_d.step()
    for pc, pd_ in zip(c.parameters(), d.parameters()):
        assert torch.allclose(pc, pd_, atol=1e-7)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_early_stopping_counts_epochs_without_improvement():
    es = EarlyStopping(patience=2, min_delta=0.5)
    assert [es.step(m) for m in (10, 10.4, 11, 11.2, 11.3)] == [False, False, False, False, True]
    assert es.best == 11 and es.best_epoch == 2
    es = EarlyStopping(patience=1, decreasing=True)
    assert [es.step(m) for m in (3, 2, 2.5)] == [False, False, True]
