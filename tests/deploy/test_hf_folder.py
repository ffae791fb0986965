""" Model folders for stock timm: `timm.create_model('local-dir:<folder>')` rebuilds the model with timm alone and
gives the timm_ml model's outputs; config.json carries the label names, schema, thresholds and preprocessing; heads
stock timm cannot rebuild are refused with what to use instead. Nothing touches the network."""
import json
import os

import pytest
import timm
import torch

from timm_ml.deploy.hf_folder import HfExportError, export_hf
from timm_ml.models import create_ml_model
from timm_ml.schema import LabelGroup, LabelSchema
from timm_ml.scoring import scores_from_logits

DATA_CONFIG = dict(input_size=[3, 40, 40], interpolation='bicubic', mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3],
                   crop_pct=0.9, crop_mode='center')


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')  # any hub call would fail the test


@pytest.mark.parametrize('schema,head', [
    (LabelSchema(['cat', 'dog', 'car']), 'linear'),
    (LabelSchema(['round', 'v', 'long', 'short', 'mid', 'striped'],
                 [LabelGroup('neck', ['round', 'v'], 0), LabelGroup('sleeve', ['long', 'short', 'mid'], 2)]),
     'attributes'),
])
def test_a_folder_stock_timm_loads_gives_the_same_outputs(tmp_path, schema, head):
    torch.manual_seed(0)
    model = create_ml_model('test_resnet', schema, head).eval()
    thresholds = [0.3 + 0.05 * i for i in range(schema.num_classes)]
    config = dict(model.ml_config, data_config=DATA_CONFIG, thresholds=thresholds, loss='bce')
    out = str(tmp_path / 'my-model')
    export_hf(model, config, str(tmp_path / 'model_best.pth.tar'), out)
    assert sorted(os.listdir(out)) == ['.timm_ml_files.json', 'README.md', 'config.json', 'model.safetensors']
    assert json.load(open(os.path.join(out, '.timm_ml_files.json')))['files'] == ['README.md', 'config.json',
                                                                                  'model.safetensors']
    loaded = timm.create_model(f'local-dir:{out}', pretrained=True).eval()
    x = torch.randn(3, 3, 40, 40)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)
    cfg = json.load(open(os.path.join(out, 'config.json')))
    assert cfg['label_names'] == list(schema.classes)
    assert LabelSchema.from_dict(cfg['timm_ml']['schema']).to_dict() == schema.to_dict()
    assert cfg['timm_ml']['thresholds'] == pytest.approx(thresholds)
    assert cfg['timm_ml']['output'] == ('softmax per exclusive group, sigmoid per other class' if schema.groups else
                                        'sigmoid per class')
    data = timm.data.resolve_data_config({}, model=loaded)
    assert data['input_size'] == (3, 40, 40) and data['interpolation'] == 'bicubic' and data['crop_pct'] == 0.9
    assert data['mean'] == pytest.approx((0.5, 0.4, 0.3)) and data['std'] == pytest.approx((0.2, 0.25, 0.3))
    # the card says how to score: a softmax within each group for the attribute head
    card = open(os.path.join(out, 'README.md')).read()
    assert "timm.create_model('local-dir:my-model', pretrained=True)" in card and ('softmax within each exclusive group' in card) == \
        bool(schema.groups)
    scores = scores_from_logits(loaded(x), LabelSchema.from_dict(cfg['timm_ml']['schema']))
    assert torch.allclose(scores, scores_from_logits(model(x), schema), atol=1e-6)


@pytest.mark.parametrize('head', ['mldecoder', 'cosine'])
def test_heads_stock_timm_cannot_rebuild_are_refused_with_the_alternative(tmp_path, head):
    model = create_ml_model('test_resnet', LabelSchema(['a', 'b']), head)
    with pytest.raises(HfExportError, match=f'a {head} head is not a timm classifier.*--export onnx'):
        export_hf(model, dict(model.ml_config, data_config=DATA_CONFIG), 'x.pth.tar', str(tmp_path / 'out'))
    assert not os.path.exists(tmp_path / 'out')
