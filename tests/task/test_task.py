""" The training engine's pieces: the multi-label task, its evaluator, loaders, checkpoints, argument handling."""
import sys

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from timm.task import MultiLabelClassificationEvaluator, MultiLabelClassificationTask

from timm_ml.data import MultiLabelDataset, SparseTargets, WeightedEpochSampler, create_ml_loader, load_image
from timm_ml.data import LabelSet
from timm_ml.loss import create_ml_loss
from timm_ml.metrics import compute_multilabel_metrics
from timm_ml.schema import LabelSchema
from timm_ml.models import create_ml_model
from timm_ml.task import MultiLabelTask
from timm_ml.utils.checkpoint_io import read_ml_config
from timm_ml.models import load_initial_checkpoint
from timm_ml.cli.train_args import resolve_eval_metric
from tests.timm_flags import TIMM_TRAIN_FLAGS, TIMM_VALIDATE_FLAGS

from tests.helpers import ROOT  # noqa: E402
CLASSES = ['cat', 'dog', 'car', 'tree']


def make_task(classes=CLASSES, loss='bce'):
    model = create_ml_model('test_resnet', classes)
    return MultiLabelTask(model, create_ml_loss(loss), dict(model.ml_config, data_config={}))


def test_task_is_timms_multilabel_task_with_masked_loss():
    torch.manual_seed(0)
    task = make_task()
    assert isinstance(task, MultiLabelClassificationTask)
    x = torch.randn(3, 3, 32, 32)
    y = torch.tensor([[1., 0., -1., 0.], [0., -1., -1., 1.], [1., 1., 0., 0.]])
    result = task(x, y)
    logits = task.trainable_module(x)
    known = y >= 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], y[known])
    assert torch.allclose(result['loss'], expected, atol=1e-6)
    with pytest.raises(ValueError, match='dense floating-point'):
        task(x, torch.tensor([0, 1, 2]))


def test_task_state_carries_ml_config_and_refuses_other_classes():
    task = make_task()
    state = task.get_checkpoint_state()
    assert state['task_state']['ml_config']['classes'] == CLASSES
    assert read_ml_config(state)['classes'] == CLASSES
    assert set(state['task_state']) == {'ml_config'}  # the train step only: the run state is the run folder's
    reordered = make_task(['dog', 'cat', 'car', 'tree'])
    with pytest.raises(ValueError, match=r"another order \(from position 0: checkpoint \['cat', 'dog', 'car'\], data \['dog', 'cat', 'car'\]\)"):
        reordered.load_checkpoint_state(state['state_dict'], state['task_state'])
    other = make_task(['cat', 'dog', 'car', 'bus'])
    with pytest.raises(ValueError, match=r"not in the checkpoint \(e.g. \['bus'\]\)"):
        other.load_checkpoint_state(state['state_dict'], state['task_state'])
    same = make_task()
    same.load_checkpoint_state(state['state_dict'], state['task_state'])
    assert all(torch.equal(a, b) for a, b in zip(same.trainable_module.state_dict().values(),
                                                 task.trainable_module.state_dict().values()))


def test_linear_checkpoint_is_a_stock_timm_checkpoint(tmp_path):
    task = make_task()
    torch.save(task.get_checkpoint_state(), tmp_path / 'ck.pth.tar')
    stock = timm.create_model('test_resnet', num_classes=4, checkpoint_path=str(tmp_path / 'ck.pth.tar'))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(stock.eval()(x), task.trainable_module.eval()(x))


def test_evaluator_builds_on_timms_and_masks_unknowns():
    task = make_task()
    evaluator = task.create_evaluator()
    assert isinstance(evaluator, MultiLabelClassificationEvaluator)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(10, 4, generator=g)
    target = torch.randint(-1, 2, (10, 4), generator=g).float()
    target[0] = 1
    for i in range(0, 10, 4):
        evaluator.update(logits[i:i + 4], target[i:i + 4])
    metrics = evaluator.compute()
    reference = compute_multilabel_metrics(logits, target.to(torch.int8), LabelSchema(CLASSES)).summary
    assert metrics['map'] == pytest.approx(reference['map']) and metrics['OF1'] == pytest.approx(reference['OF1'])
    bce = 0.  # timm's evaluators weight each batch's loss by its size
    for i in range(0, 10, 4):
        x, t = logits[i:i + 4], target[i:i + 4]
        bce += len(x) * torch.nn.functional.binary_cross_entropy_with_logits(x[t >= 0], t[t >= 0]).item() / 10
    assert metrics['loss'] == pytest.approx(bce, rel=1e-5)
    empty = task.create_evaluator()
    with pytest.raises(ValueError, match='No evaluation samples'):
        empty.compute()


def test_eval_metric_is_resolved_case_insensitively():
    names = ['loss', 'map', 'CF1', 'OF1', 'top3_CF1']
    assert resolve_eval_metric('mAP', names) == 'map'
    assert resolve_eval_metric('cf1', names) == 'CF1'
    with pytest.raises(ValueError, match="'f1' is not an evaluation column; choose one of"):
        resolve_eval_metric('f1', names)


def _dataset(tmp_path, n=12):
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(tmp_path / f'{i}.png')
    dense = np.zeros((n, 3), np.int8)
    dense[np.arange(n), np.arange(n) % 3] = 1
    labels = LabelSet(LabelSchema(['a', 'b', 'c']), [f'{i}.png' for i in range(n)], SparseTargets.from_dense(dense),
                      str(tmp_path))
    return MultiLabelDataset(labels)


@pytest.mark.parametrize('prefetcher', [True, False])
def test_loader_with_sampler_draws_the_samplers_indices(tmp_path, prefetcher):
    dataset = _dataset(tmp_path)
    sampler = WeightedEpochSampler(np.r_[np.zeros(11), 1.], num_samples=8, seed=0)  # always image 11
    loader = create_ml_loader(dataset, sampler=sampler, input_size=(3, 8, 8), batch_size=4, is_training=True,
                              no_aug=True, num_workers=0, device=torch.device('cpu'), use_prefetcher=prefetcher)
    batches = list(loader)
    assert len(batches) == 2
    for x, y in batches:
        assert x.dtype == torch.float32 and x.shape == (4, 3, 8, 8)
        assert torch.equal(y, torch.tensor([[0., 0., 1.]] * 4))  # image 11 is class c
        assert torch.allclose(x[0], x[1])


def test_prefetcher_and_plain_loader_give_the_same_batches(tmp_path):
    dataset = _dataset(tmp_path)
    kwargs = dict(input_size=(3, 8, 8), batch_size=5, is_training=False, num_workers=0, device=torch.device('cpu'),
                  crop_pct=1.0)
    fast = list(create_ml_loader(dataset, use_prefetcher=True, **kwargs))
    plain = list(create_ml_loader(dataset, use_prefetcher=False, **kwargs))
    assert len(fast) == len(plain) == 3
    for (xf, yf), (xp, yp) in zip(fast, plain):
        assert torch.allclose(xf, xp, atol=1e-5) and torch.equal(yf, yp)


def test_initial_checkpoint_matches_head_rows_by_class_name(tmp_path):
    torch.manual_seed(0)
    source = make_task(['cat', 'dog', 'car'])
    torch.save(source.get_checkpoint_state(), tmp_path / 'ck.pth.tar')
    model = create_ml_model('test_resnet', ['car', 'cat', 'bus'])
    bus_before = model.fc.weight[2].clone()
    load_initial_checkpoint(model, str(tmp_path / 'ck.pth.tar'))
    src = source.trainable_module.fc
    assert torch.equal(model.fc.weight[0], src.weight[2]) and torch.equal(model.fc.weight[1], src.weight[0])
    assert torch.equal(model.fc.bias[:2], src.bias[[2, 0]])
    assert torch.equal(model.fc.weight[2], bus_before)  # a class new to the checkpoint keeps its init


def test_16_bit_png_keeps_its_grey_levels(tmp_path):
    values = np.linspace(0, 65535, 64 * 4).astype(np.uint16).reshape(16, 16)
    Image.fromarray(values).save(tmp_path / 'deep.png')
    img = np.asarray(load_image(str(tmp_path / 'deep.png')))
    assert img.shape == (16, 16, 3)
    assert len(np.unique(img)) > 200  # PIL's own convert('RGB') leaves two levels (0 and 255)
    assert np.abs(img[..., 0].astype(int) - values // 257).max() == 0


def _parser_flags(script):
    sys.path.insert(0, ROOT)
    module = __import__(script)
    parser = module.parser
    return {s for a in parser._actions for s in a.option_strings}


def test_timm_flag_coverage():
    train_flags, validate_flags = _parser_flags('train'), _parser_flags('validate')
    train_missing = [f for f in TIMM_TRAIN_FLAGS if f not in train_flags and f != '-c']
    validate_missing = [f for f in TIMM_VALIDATE_FLAGS if f not in validate_flags]
    assert len(train_missing) <= 0.1 * len(TIMM_TRAIN_FLAGS), train_missing
    assert len(validate_missing) <= 0.15 * len(TIMM_VALIDATE_FLAGS), validate_missing


def test_resume_refuses_another_model_or_head():
    state = make_task().get_checkpoint_state()
    other_head = MultiLabelTask(create_ml_model('test_resnet', CLASSES, ml_head='cosine'), create_ml_loss('bce'),
                                dict(create_ml_model('test_resnet', CLASSES, ml_head='cosine').ml_config))
    with pytest.raises(ValueError, match='--ml-head cosine. --resume continues the same model'):
        other_head.load_checkpoint_state(state['state_dict'], state['task_state'])
    other_model = MultiLabelTask(create_ml_model('test_efficientnet', CLASSES), create_ml_loss('bce'),
                                 dict(create_ml_model('test_efficientnet', CLASSES).ml_config))
    with pytest.raises(ValueError, match='this run builds --model test_efficientnet'):
        other_model.load_checkpoint_state(state['state_dict'], state['task_state'])


def test_summary_row_in_a_checkpoint_keeps_integers():
    from timm_ml.cli.run_state import plain_metrics
    row = plain_metrics({'loss': np.float32(0.5), 'skipped_images': 3, 'known': np.int64(7), 'map': 81.25})
    assert row == {'loss': 0.5, 'skipped_images': 3, 'known': 7, 'map': 81.25}
    assert [type(v) for v in row.values()] == [float, int, int, float]
