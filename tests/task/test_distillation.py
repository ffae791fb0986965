""" Multi-label distillation: the loss against hand-written binary / categorical KL, teacher columns matched by name
(missing classes and partly covered groups left out), teacher-filled unknowns (soft, hard, counted, known targets
kept), timm's weighting modes, and a teacher's gradient never reaching it."""
import math

import numpy as np
import pytest
import timm
import torch
from timm.task import DistillationTeacher

from timm_ml.loss.distill import MultiLabelDistillationLoss
from timm_ml.models.teacher import Teacher
from timm_ml.schema import LabelGroup, LabelSchema
from timm_ml.task import MultiLabelDistillationTask, MultiLabelFeatureDistillationTask, loss_weights


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _hand_loss(s, q, covered, groups, multilabel, T, weight=None):
    """The loss written out: binary KL per covered multi-label entry, categorical KL per covered group, averaged over
    images x terms, times T^2."""
    s = np.asarray(s, dtype=np.float64) / T
    total, terms = 0.0, 0
    for c in multilabel:
        if not covered[c]:
            continue
        terms += 1
        for b in range(len(s)):
            p, t = _sigmoid(s[b, c]), q[b, c]
            kl = (t * math.log(t / p) if t > 0 else 0) + ((1 - t) * math.log((1 - t) / (1 - p)) if t < 1 else 0)
            total += kl * (1 if weight is None else weight[c])
    for start, end in groups:
        if not all(covered[start:end]):
            continue
        terms += 1
        for b in range(len(s)):
            z = s[b, start:end]
            logp = z - np.log(np.exp(z).sum())
            total += sum(t * (math.log(t) - lp) for t, lp in zip(q[b, start:end], logp) if t > 0)
    return total / (len(s) * terms) * T * T


@pytest.mark.parametrize('T', [1.0, 2.5])
def test_the_loss_is_the_binary_and_categorical_kl_by_hand(T):
    schema = LabelSchema(['a', 'b', 'neck=crew', 'neck=v', 'neck=polo', 'c'],
                         groups=[LabelGroup('neck', ['crew', 'v', 'polo'], start=2)])
    rng = np.random.default_rng(0)
    s = rng.normal(size=(5, 6)) * 3
    q = rng.uniform(size=(5, 6))
    q[:, 2:5] /= q[:, 2:5].sum(1, keepdims=True)
    q[0, 0], q[1, 5] = 0.0, 1.0  # hard teacher probabilities: the entropy term is 0, never NaN
    covered = [True, False, True, True, True, True]
    weight = np.array([2.0, 1, 1, 1, 1, 0.5])
    loss = MultiLabelDistillationLoss(schema, T, class_weight=torch.tensor(weight))
    got = loss(torch.tensor(s), torch.tensor(q), torch.tensor(covered)).item()
    want = _hand_loss(s, q, covered, [(2, 5)], [0, 1, 5], T, weight)
    assert got == pytest.approx(want, rel=1e-5)
    # a student equal to its teacher has zero loss
    q_same = q.clip(0.01, 0.99)
    q_same[:, 2:5] = q[:, 2:5]
    same = np.log(q_same / (1 - q_same)) * T
    same[:, 2:5] = np.log(q[:, 2:5]) * T
    full = torch.tensor([True] * 6)
    assert loss(torch.tensor(same), torch.tensor(q_same), full).item() == pytest.approx(0, abs=1e-6)


def _teacher(teacher_classes, student: LabelSchema, scoring=None, thresholds=None):
    model = timm.create_model('test_resnet', num_classes=len(teacher_classes))
    module = DistillationTeacher(model)
    return Teacher(module, teacher_classes, scoring if scoring is not None else LabelSchema(teacher_classes),
                   thresholds or [0.5] * len(teacher_classes), student, 'test')


def test_teacher_columns_match_by_name_and_a_partly_covered_group_is_left_out():
    student = LabelSchema(['dog', 'cat', 'size=s', 'size=l', 'bird'], groups=[LabelGroup('size', ['s', 'l'], start=2)])
    teacher = _teacher(['bird', 'cat', 'size=s', 'truck'], student)  # size=l missing: the size group is not covered
    assert teacher.covered.tolist() == [False, True, False, False, True]
    logits = torch.tensor([[0.3, -1.0, 2.0, 0.7]])
    probs = teacher.probabilities(logits, temperature=2.0)
    assert probs[0, 1].item() == pytest.approx(_sigmoid(-0.5)) and probs[0, 4].item() == pytest.approx(_sigmoid(0.15))
    assert probs[0, [0, 2, 3]].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match='none of the student\'s classes'):
        _teacher(['truck', 'boat'], student)


def test_a_sigmoid_teacher_teaches_a_softmax_group_its_normalised_scores():
    student = LabelSchema(['size=s', 'size=l'], groups=[LabelGroup('size', ['s', 'l'])])
    teacher = _teacher(['size=l', 'size=s'], student)  # teacher order differs, a sigmoid each
    probs = teacher.probabilities(torch.tensor([[1.0, -1.0]]))
    want = np.array([_sigmoid(-1.0), _sigmoid(1.0)])
    assert probs[0].tolist() == pytest.approx((want / want.sum()).tolist())
    assert teacher.decisions(probs)[0].tolist() == [0, 1]  # the group's argmax, not 0.5 thresholds


def _task(student, teacher, fill='teacher', **kw):
    model = timm.create_model('test_resnet', num_classes=student.num_classes)
    config = dict(classes=student.classes, ml_head='linear', schema=student.to_dict())
    data_config = dict(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return MultiLabelDistillationTask(model, torch.nn.BCEWithLogitsLoss(), config, teacher, data_config,
                                      schema=student, fill_unknown=fill, verbose=False, **kw)


@pytest.mark.parametrize('fill', ['teacher', 'teacher-hard'])
def test_unknown_targets_are_filled_by_the_teacher_known_ones_kept_and_counted(fill):
    student = LabelSchema(['dog', 'cat', 'bird'])
    teacher = _teacher(['cat', 'dog'], student, thresholds=[0.3, 0.9])
    task = _task(student, teacher, fill)
    target = torch.tensor([[-1., 1., -1.], [0., -1., -1.]])
    logits = torch.tensor([[0.0, 1.0], [-1.0, 3.0]])  # teacher: cat, dog
    filled = task.fill(target, logits)
    p_dog, p_cat = _sigmoid(np.array([1.0, 3.0])), _sigmoid(np.array([0.0, -1.0]))
    if fill == 'teacher':
        assert filled[0].tolist() == pytest.approx([p_dog[0], 1.0, -1.0])
        assert filled[1].tolist() == pytest.approx([0.0, p_cat[1], -1.0])
    else:  # dog's threshold is 0.9, cat's 0.3
        assert filled.tolist() == [[0.0, 1.0, -1.0], [0.0, 0.0, -1.0]]
    assert task.take_fill_counts().tolist() == [1, 1, 0]  # bird: no teacher class, stays unknown
    assert task.take_fill_counts().tolist() == [0, 0, 0]


@pytest.mark.parametrize('given, want', [((None, None), (1.0, 1.0)), ((0.3, None), (1.0, 0.3)),
                                         ((None, 0.3), (0.3, 0.7)), ((0.2, 0.5), (0.5, 0.2))])
def test_loss_weights_follow_timms_three_modes(given, want):
    assert loss_weights(*given) == pytest.approx(want)


def test_the_step_trains_the_student_only_and_reports_both_losses():
    student = LabelSchema(['dog', 'cat'])
    task = _task(student, _teacher(['dog', 'cat'], student), fill='none', temperature=2.0)
    before = [p.clone() for p in task.teacher.parameters()]
    out = task(torch.randn(4, 3, 32, 32), torch.tensor([[1., -1.], [0., 1.], [-1., -1.], [1., 0.]]))
    out['loss'].backward()
    assert out['kd_loss'].item() > 0 and out['loss'].item() == pytest.approx((out['task_loss'] + out['kd_loss']).item())
    assert all(p.grad is None for p in task.teacher.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, task.teacher.parameters()))
    assert 'teacher' not in ' '.join(task.get_checkpoint_state()['state_dict'])  # only the student is saved


def test_feature_distillation_is_timms_task_with_the_multilabel_state():
    student = LabelSchema(['dog', 'cat'])
    model = timm.create_model('test_resnet', num_classes=2)
    teacher_model = timm.create_model('test_efficientnet', num_classes=2)
    teacher = Teacher(DistillationTeacher(teacher_model), ['dog', 'cat'], student, [0.5, 0.5], student, 'test')
    config = dict(classes=student.classes, ml_head='linear', schema=student.to_dict())
    task = MultiLabelFeatureDistillationTask(model, torch.nn.BCEWithLogitsLoss(), config, teacher,
                                             dict(mean=(0.2, 0.3, 0.4), std=(0.5, 0.5, 0.5)), verbose=False)
    assert task.student_mean.flatten().tolist() == pytest.approx([0.2, 0.3, 0.4])  # the loader's, not the model's
    out = task(torch.randn(2, 3, 32, 32), torch.tensor([[1., 0.], [0., 1.]]))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        student_features = task.trainable_module(x)[1]
        teacher_features = teacher.module(task.teacher.normalize_input(x, task.student_mean, task.student_std),
                                          return_features=True)
    assert out['kd_loss'].item() > 0 and student_features.shape == teacher_features.shape  # projected to the teacher
    state = task.get_checkpoint_state()
    assert set(state['task_state']) == {'projection', 'ml_config'} and not any('teacher' in k for k in state['state_dict'])
    with pytest.raises(ValueError, match='must be timm classifiers'):
        MultiLabelFeatureDistillationTask(torch.nn.Linear(2, 2), torch.nn.BCEWithLogitsLoss(), config, teacher,
                                          dict(mean=(0.5,) * 3, std=(0.5,) * 3))
