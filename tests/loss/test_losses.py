
import pytest
import torch
import torch.nn.functional as F

from timm_ml.schema import LabelSchema

from timm_ml.loss import (AsymmetricAngularMarginLoss, GroupCrossEntropy, ClassAwareSelectiveLoss, create_ml_loss,
                          read_class_prior, write_class_prior)
from timm_ml.loss.prior import PriorFileError


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=g) * 2
    y = torch.randint(-1, 2, (6, 5), generator=g).float()
    return x, y


def grad_of(fn, x):
    x = x.clone().requires_grad_(True)
    fn(x).backward()
    return x.grad


def test_masked_bce_matches_formula(data):
    x, y = data
    known = y >= 0

    def ref(x):
        p = torch.sigmoid(x)
        l = -(y.clamp(min=0) * torch.log(p) + (1 - y.clamp(min=0)) * torch.log(1 - p))
        return (l * known).sum() / known.sum()
    loss = create_ml_loss('bce')
    assert torch.allclose(loss(x, y), ref(x), atol=1e-6)
    g = grad_of(lambda v: loss(v, y), x)
    assert torch.allclose(g, grad_of(ref, x), atol=1e-6)
    assert (g[~known] == 0).all()


def test_masked_asl_matches_formula(data):
    x, y = data
    known = y >= 0
    gp, gn, clip = 0., 4., 0.05  # the paper's training recipe (gamma+ 0), our default

    def ref(x):
        p = torch.sigmoid(x)
        p_neg = (1 - p + clip).clamp(max=1)
        t = y.clamp(min=0)
        l = t * torch.log(p.clamp(min=1e-8)) * (1 - p) ** gp + (1 - t) * torch.log(p_neg.clamp(min=1e-8)) * (1 - p_neg) ** gn
        return -(l * known).sum() / x.shape[0]
    loss = create_ml_loss('asl')
    assert torch.allclose(loss(x, y), ref(x), atol=1e-6)
    assert torch.allclose(grad_of(lambda v: loss(v, y), x), grad_of(ref, x), atol=1e-6)
    assert torch.allclose(create_ml_loss('asl', reduction='sum')(x, y), ref(x) * x.shape[0], atol=1e-5)


@pytest.mark.parametrize('loss_type', ['zlpr', 'twoway'])
def test_per_sample_losses_ignore_unknown(data, loss_type):
    x, y = data
    loss = create_ml_loss(loss_type)
    base = loss.base
    # reference: each sample evaluated on its known classes only, then averaged like the base loss
    for i in range(x.shape[0]):
        k = y[i] >= 0
        if loss_type == 'zlpr':
            single = loss(x[i:i + 1], y[i:i + 1])
            ref = base(x[i:i + 1, k], y[i:i + 1, k]) if k.any() else torch.tensor(0.)
            assert torch.allclose(single, ref, atol=1e-5)
    g = grad_of(lambda v: loss(v, y), x)
    assert (g[y < 0] == 0).all()


def csl_reference(x, y, mode, gp=0., gn=1., gu=2., clip=0., topk=5, prior=None, thr=0.05):
    p = torch.sigmoid(x)
    p_neg = (1 - p + clip).clamp(max=1)
    pos, neg, unk = (y == 1).float(), (y == 0).float(), (y == -1).float()
    l = (pos * torch.log(p.clamp(min=1e-8)) * ((1 - p) ** gp).detach()
         + neg * torch.log(p_neg.clamp(min=1e-8)) * ((1 - p_neg) ** gn).detach()
         + unk * torch.log(p_neg.clamp(min=1e-8)) * ((1 - p_neg) ** gu).detach())
    w = torch.ones_like(x)
    if mode == 'ignore':
        w = 1 - unk
    elif mode == 'ignore_normalize_classes':
        n_known = (1 - unk).sum(1, keepdim=True)
        w = (1 / (1 + n_known) + 1) * (1 - unk)
    elif mode == 'selective':
        if prior is not None:
            w = w * (1 - unk * (prior > thr).float())
        flat = [(p[i, j].item(), i, j) for i in range(x.shape[0]) for j in range(x.shape[1]) if y[i, j] == -1]
        for _, i, j in sorted(flat, reverse=True)[:topk * x.shape[0]]:
            w[i, j] = 0
    return -(l * w).sum()


@pytest.mark.parametrize('mode', ['negative', 'ignore', 'ignore_normalize_classes', 'selective'])
def test_csl_modes_match_formula(mode):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 12, generator=g) * 2
    y = torch.randint(-1, 2, (8, 12), generator=g).float()
    prior = torch.rand(12, generator=g) * 0.2
    kw = dict(gamma_pos=0.5, gamma_neg=2., gamma_unann=4., clip=0.05, likelihood_topk=1)
    loss = ClassAwareSelectiveLoss(mode, prior=prior, prior_threshold=0.1, **kw)
    ref = lambda v: csl_reference(v, y, mode, 0.5, 2., 4., 0.05, 1, prior, 0.1)  # noqa: E731
    assert torch.allclose(loss(x, y), ref(x), atol=1e-5)
    assert torch.allclose(grad_of(lambda v: loss(v, y), x), grad_of(ref, x), atol=1e-5)


def test_csl_modes_differ_only_on_unknowns():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 6, generator=g, requires_grad=True)
    y = torch.randint(-1, 2, (4, 6), generator=g).float()
    grads = {}
    for mode in ('negative', 'ignore', 'selective'):
        x.grad = None
        ClassAwareSelectiveLoss(mode, likelihood_topk=1)(x, y).backward()
        grads[mode] = x.grad.clone()
    known = y >= 0
    assert torch.allclose(grads['negative'][known], grads['ignore'][known])
    assert torch.allclose(grads['negative'][known], grads['selective'][known])
    assert (grads['ignore'][~known] == 0).all() and (grads['negative'][~known] != 0).all()
    # selective ignores exactly likelihood_topk * B unknowns: the most likely positive ones
    ignored = (grads['selective'] == 0) & ~known
    assert ignored.sum() == 4
    assert x[ignored].min() >= x[~known & ~ignored].max()


def test_aam_matches_formula():
    g = torch.Generator().manual_seed(3)
    cos = torch.rand(5, 7, generator=g) * 2 - 1
    y = torch.randint(-1, 2, (5, 7), generator=g).float()
    s, m, k, gp, gn, clip = 30., 0.35, 0.8, 1., 2., 0.05
    known = (y >= 0).float()

    def ref(logits):
        c = logits / s
        p_pos = torch.sigmoid(s * (c - m))
        p_neg = torch.sigmoid(-s * (c + m))
        t = y.clamp(min=0)
        w = t * (p_neg + clip).clamp(max=1) ** gp + (1 - t) * p_pos ** gn
        l = (k / s) * t * F.logsigmoid(s * (c - m)) + ((1 - k) / s) * (1 - t) * F.logsigmoid(-s * (c + m))
        return -(l * w * known).sum() / c.shape[0]
    loss = AsymmetricAngularMarginLoss(s, m, k, gp, gn, clip)
    logits = s * cos
    assert torch.allclose(loss(logits, y), ref(logits), atol=1e-6)
    assert torch.allclose(grad_of(lambda v: loss(v, y), logits), grad_of(ref, logits), atol=1e-6)
    # without focusing the weight is 1
    plain = AsymmetricAngularMarginLoss(s, m, k)(logits, y)
    t = y.clamp(min=0)
    expect = -(((k / s) * t * F.logsigmoid(logits - s * m) + ((1 - k) / s) * (1 - t) * F.logsigmoid(-(logits + s * m)))
               * known).sum() / 5
    assert torch.allclose(plain, expect, atol=1e-6)


def test_attribute_ce_ignores_unknown_attributes():
    logits = torch.randn(3, 5)
    # groups: 2 + 3; sample 1 has attribute 0 unknown; attribute 1 unknown for all but sample 2
    y = torch.tensor([[1, 0, -1, -1, -1], [-1, -1, -1, -1, -1], [0, 1, 0, 0, 1]]).float()
    schema = LabelSchema.from_config(dict(classes=list('abcde'), group_sizes=[2, 3]))
    loss = GroupCrossEntropy(schema)(logits, y)
    a0 = F.cross_entropy(logits[[0, 2], :2], torch.tensor([0, 1]))
    a1 = F.cross_entropy(logits[[2], 2:], torch.tensor([2]))
    assert torch.allclose(loss, (a0 + a1) / 2)
    smooth = GroupCrossEntropy(schema, smoothing=0.1)(logits, y)
    a0s = F.cross_entropy(logits[[0, 2], :2], torch.tensor([0, 1]), label_smoothing=0.1)
    a1s = F.cross_entropy(logits[[2], 2:], torch.tensor([2]), label_smoothing=0.1)
    assert torch.allclose(smooth, (a0s + a1s) / 2, atol=1e-6)


def test_group_ce_trains_a_child_group_only_under_its_known_parent_and_adds_the_tag_bce():
    from timm_ml.schema import LabelGroup
    schema = LabelSchema(['A', 'B', 'a1', 'a2', 't'], [LabelGroup('top', ['A', 'B'], 0),
                                                      LabelGroup('sub', ['a1', 'a2'], 2, parent='A')])
    logits = torch.randn(3, 5)
    # image 0: A / a2, tag on; image 1: B (so the A-children are all 0: not applicable), tag unknown;
    # image 2: top unknown (so its subtree too), tag off
    y = torch.tensor([[1, 0, 0, 1, 1], [0, 1, 0, 0, -1], [-1, -1, -1, -1, 0]]).float()
    top = F.cross_entropy(logits[[0, 1], :2], torch.tensor([0, 1]))
    sub = F.cross_entropy(logits[[0], 2:4], torch.tensor([1]))
    tag = F.binary_cross_entropy_with_logits(logits[[0, 2], 4], torch.tensor([1., 0.]))
    assert torch.allclose(GroupCrossEntropy(schema)(logits, y), (top + sub) / 2 + tag, atol=1e-6)


def test_group_ce_tags_mean_over_entries_or_sum_per_image():
    """--loss-reduction for ce: the tags' BCE summed per image and averaged over images with a known tag (batchmean,
    the default: one per-image loss like a group's CE), or mean: averaged over known entries."""
    from timm_ml.schema import LabelGroup
    schema = LabelSchema(['A', 'B', 't', 'u', 'v'], [LabelGroup('top', ['A', 'B'], 0)])
    logits = torch.randn(3, 5)
    y = torch.tensor([[1, 0, 1, 0, -1], [0, 1, -1, -1, -1], [-1, -1, 0, 1, 1]]).float()
    top = F.cross_entropy(logits[[0, 1], :2], torch.tensor([0, 1]))
    bce = F.binary_cross_entropy_with_logits(logits[:, 2:], y[:, 2:].clamp(min=0), reduction='none') * (y[:, 2:] >= 0)
    assert torch.allclose(GroupCrossEntropy(schema)(logits, y), top + bce.sum() / 2, atol=1e-6)
    assert torch.allclose(create_ml_loss('ce', schema=schema)(logits, y), top + bce.sum() / 2, atol=1e-6)
    mean = create_ml_loss('ce', schema=schema, reduction='mean')
    assert torch.allclose(mean(logits, y), top + bce.sum() / 5, atol=1e-6)
    with pytest.raises(ValueError, match="--loss-reduction 'sum' does not apply to --loss ce"):
        create_ml_loss('ce', schema=schema, reduction='sum')


def test_group_ce_weighs_each_tree_level_as_one_term_however_many_parents():
    from timm_ml.schema import LabelGroup
    # a root of 3 values, each with its own child group: the children form one level; the root weighs 1/2, not 1/4
    schema = LabelSchema(['A', 'B', 'C', 'a1', 'a2', 'b1', 'b2', 'b3', 'c1', 'c2'], [
        LabelGroup('top', ['A', 'B', 'C'], 0), LabelGroup('sub', ['a1', 'a2'], 3, parent='A'),
        LabelGroup('sub', ['b1', 'b2', 'b3'], 5, parent='B'), LabelGroup('sub', ['c1', 'c2'], 8, parent='C')])
    logits = torch.randn(4, 10)
    y = torch.tensor([[1, 0, 0, 1, 0, 0, 0, 0, 0, 0],  # A / a1
                      [0, 1, 0, 0, 0, 0, 0, 1, 0, 0],  # B / b3
                      [0, 1, 0, 0, 0, 1, 0, 0, 0, 0],  # B / b1
                      [0, 0, 1, -1, -1, -1, -1, -1, -1, -1]]).float()  # C, its child unknown
    y[3, 3:8] = 0  # the A and B children do not apply under C
    top = F.cross_entropy(logits[:, :3], torch.tensor([0, 1, 1, 2]), reduction='sum') / 4
    sub = (F.cross_entropy(logits[[0], 3:5], torch.tensor([0]), reduction='sum')
           + F.cross_entropy(logits[[1, 2], 5:8], torch.tensor([2, 0]), reduction='sum')) / 3
    assert torch.allclose(GroupCrossEntropy(schema)(logits, y), (top + sub) / 2, atol=1e-6)


def test_prior_file_roundtrip_and_errors(tmp_path):
    classes = ['a', 'b', 'c']
    path = tmp_path / 'prior.csv'
    write_class_prior(str(path), classes, [0.1, 0.2, 0.3])
    assert torch.allclose(read_class_prior(str(path), classes), torch.tensor([0.1, 0.2, 0.3]))
    path.write_text('index,class,prior\n0,a,0.1\n1,b,0.2\n1,b,0.5\n2,c,0.3\n')
    with pytest.raises(PriorFileError, match='row 4: duplicate entry for class 1'):
        read_class_prior(str(path), classes)
    path.write_text('index,class,prior\n0,a,0.1\n1,c,0.2\n2,c,0.3\n')
    with pytest.raises(PriorFileError, match="class 1 is named 'c', the model calls it 'b'"):
        read_class_prior(str(path), classes)
    path.write_text('index,class,prior\n0,a,0.1\n')
    with pytest.raises(PriorFileError, match='no prior for 2 classes'):
        read_class_prior(str(path), classes)


def test_estimate_class_prior_is_mean_sigmoid():
    from timm_ml.loss import estimate_class_prior
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    data = [(torch.randn(5, 4), torch.zeros(5, 3)) for _ in range(3)]
    prior = estimate_class_prior(model, data)
    with torch.no_grad():
        ref = torch.cat([model(x) for x, _ in data]).sigmoid().mean(0)
    assert torch.allclose(torch.as_tensor(prior, dtype=torch.float32), ref, atol=1e-6)


def test_prior_values_outside_zero_one_are_named_and_a_bom_is_read(tmp_path):
    classes = ['cat', 'dog']
    path = tmp_path / 'prior.csv'
    path.write_bytes('\ufeffindex,class,prior\n0,cat,0.25\n1,dog,0.5\n'.encode('utf-8'))  # a spreadsheet's export
    assert torch.allclose(read_class_prior(str(path), classes), torch.tensor([0.25, 0.5]))
    for value in ('1.5', '-0.1', 'nan'):
        path.write_text(f'index,class,prior\n0,cat,0.25\n1,dog,{value}\n')
        with pytest.raises(ValueError, match=rf"prior\.csv: row 3: prior '{value}' of class 'dog' is not a probability"):
            read_class_prior(str(path), classes)


def test_estimating_the_prior_stops_when_asked():
    from timm_ml.loss.prior import estimate_class_prior

    class Stop:
        requested = True
    model = torch.nn.Linear(3, 2)
    loader = [(torch.randn(4, 3), None)] * 3
    assert estimate_class_prior(model, loader, stop=Stop()) is None
    assert estimate_class_prior(model, loader).shape == (2,)
