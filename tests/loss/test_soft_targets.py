""" Soft targets (mixup / cutmix, label smoothing) in every loss: a hand formula on the soft values, never a loss that
reads only exact 0 / 1 entries (regression: CSL / AAM gave exactly zero under --smoothing, half under --mixup)."""
import pytest
import torch

from timm_ml.schema import LabelSchema
import torch.nn.functional as F

from timm_ml.data import PartialLabelMixup
from timm_ml.loss import create_ml_loss


@pytest.fixture
def soft():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=g) * 2
    y = torch.randint(-1, 2, (6, 5), generator=g).float()
    mixed = torch.where(y >= 0, torch.rand(6, 5, generator=g), y)  # soft known values, -1 stays unknown
    return x, y, mixed


def csl_reference(x, t, gamma_pos=0., gamma_neg=1., gamma_unann=2.):
    """CSL 'negative' mode on soft known targets: positive term weighted by y, negative by 1 - y."""
    p = torch.sigmoid(x)
    known, unk = (t >= 0).float(), (t < 0).float()
    y = t.clamp(min=0)
    lp, ln = torch.log(p.clamp(min=1e-8)), torch.log((1 - p).clamp(min=1e-8))
    loss = known * (y * lp * (1 - p) ** gamma_pos + (1 - y) * ln * p ** gamma_neg) + unk * ln * p ** gamma_unann
    return -loss.sum()


def aam_reference(logits, t, s=23., m=0., k=0.7):  # the published multi-label recipe, our default
    known = (t >= 0).float()
    y = t.clamp(min=0)
    loss = (k / s) * y * F.logsigmoid(logits - s * m) + ((1 - k) / s) * (1 - y) * F.logsigmoid(-(logits + s * m))
    return -(loss * known).sum() / logits.shape[0]


def test_csl_and_aam_with_soft_targets_match_formula(soft):
    x, _, mixed = soft
    assert torch.allclose(create_ml_loss('csl', soft_targets=True)(x, mixed), csl_reference(x, mixed), rtol=1e-5)
    logits = 30 * torch.tanh(x)
    assert torch.allclose(create_ml_loss('aam', soft_targets=True)(logits, mixed), aam_reference(logits, mixed),
                          rtol=1e-5)


@pytest.mark.parametrize('loss_type', ['csl', 'aam', 'bce', 'asl'])
def test_smoothing_is_timm_multilabel_smoothing_on_known_entries(soft, loss_type):
    x, y, _ = soft
    smoothed = torch.where(y >= 0, y * 0.8 + 0.1, y)  # timm: y (1 - s) + s / 2
    expected = create_ml_loss(loss_type, soft_targets=True)(x, smoothed)
    got = create_ml_loss(loss_type, smoothing=0.2)(x, y)
    assert torch.allclose(got, expected, rtol=1e-6)
    assert not torch.allclose(got, create_ml_loss(loss_type)(x, y))  # smoothing is not ignored
    if loss_type == 'csl':
        assert torch.allclose(got, csl_reference(x, smoothed), rtol=1e-5) and got > 0


def test_mixup_targets_reach_csl_with_full_weight():
    torch.manual_seed(0)
    y = torch.tensor([[1., 0., -1.], [0., 1., 0.], [1., 1., 0.], [0., 0., 1.]])
    mixup = PartialLabelMixup(mixup_alpha=1., prob=1., label_smoothing=0., num_classes=3)
    _, mixed = mixup(torch.randn(4, 3, 8, 8), y.clone())
    assert ((mixed > 0) & (mixed < 1)).any()  # really soft
    x = torch.randn(4, 3)
    assert torch.allclose(create_ml_loss('csl', soft_targets=True)(x, mixed), csl_reference(x, mixed), rtol=1e-5)


def test_attribute_ce_with_mixed_one_hots_is_soft_cross_entropy():
    logits = torch.randn(2, 5)
    target = torch.tensor([[0.7, 0.3, 0.4, 0.6, 0.], [-1., -1., 0.2, 0., 0.8]])
    schema = LabelSchema.from_config(dict(classes=list('abcde'), group_sizes=[2, 3]))
    loss = create_ml_loss('ce', schema=schema, soft_targets=True)(logits, target)
    a0 = -(target[0, :2] * F.log_softmax(logits[0, :2], -1)).sum()
    a1 = -(target[:, 2:] * F.log_softmax(logits[:, 2:], -1)).sum(-1).mean()
    assert torch.allclose(loss, (a0 + a1) / 2, atol=1e-6)


@pytest.mark.parametrize('loss_type,reduction', [('bce', 'none'), ('asl', 'none'), ('csl', 'mean'), ('aam', 'sum')])
def test_reductions_that_do_not_apply_are_refused(loss_type, reduction):
    with pytest.raises(ValueError, match='--loss-reduction'):
        create_ml_loss(loss_type, reduction=reduction)
