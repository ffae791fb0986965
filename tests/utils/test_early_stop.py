""" Early stopping, the summary's meaning and the learning rate across a resume."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from timm_ml.cli.run_state import RunState
from timm_ml.config import LossConfig
from timm_ml.optim import check_resumed_lr, optimizer_settings
from timm_ml.utils.early_stop import EarlyStopping


def check_summary_meaning(saved, current, summary):
    """The message a resume in place gets when its rows would mean something else (None: nothing changed)."""
    state = RunState({}, current)
    state.resumed = dict(meaning=saved) if saved else {}
    try:
        state.check_meaning(summary)
    except ValueError as e:
        return str(e)
    return None


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(0, 100), min_size=2, max_size=12), st.integers(1, 4), st.floats(0, 5), st.booleans(),
       st.data())
def test_stopping_after_a_resume_is_the_uninterrupted_decision(metrics, patience, delta, decreasing, data):
    """A run stopped after epoch k and resumed from its state stops at the same epoch, naming the same best epoch."""
    def run(stopper, epochs):
        for epoch, m in epochs:
            if stopper.step(m, epoch):
                return epoch
        return None
    full = EarlyStopping(patience, delta, decreasing)
    stopped = run(full, enumerate(metrics))
    k = data.draw(st.integers(0, len(metrics) - 1))
    first = EarlyStopping(patience, delta, decreasing)
    stopped_first = run(first, list(enumerate(metrics))[:k])
    resumed = EarlyStopping(patience, delta, decreasing)
    resumed.load_state_dict(first.state_dict())
    stopped_resumed = stopped_first if stopped_first is not None else run(resumed, list(enumerate(metrics))[k:])
    assert stopped_resumed == stopped
    if stopped_first is None:
        assert (resumed.best, resumed.best_epoch) == (full.best, full.best_epoch)


def test_a_changed_threshold_split_or_metric_is_named():
    saved = dict(threshold=0.5, eval_metric='map', val_split='val (val.json)')
    assert check_summary_meaning(saved, dict(saved), 'run/summary.csv') is None
    assert check_summary_meaning(None, dict(saved, threshold=0.2), 'run/summary.csv') is None  # older checkpoints
    message = check_summary_meaning(saved, dict(saved, threshold=0.2, val_split='test (test.json)'), 'run/summary.csv')
    assert message.startswith('run/summary.csv: ') and '--threshold 0.5 -> 0.2' in message
    assert '--val-split (the evaluated labels) val (val.json) -> test (test.json)' in message
    assert '--eval-metric map -> loss' in check_summary_meaning(saved, dict(saved, eval_metric='loss'), 's.csv')


def test_a_changed_loss_or_loss_option_is_named():
    """train_loss / eval_loss rows under another --loss or --loss-reduction are another scale (adversarial pass)."""
    base = LossConfig()
    saved = dict(threshold=0.5, loss='ce', loss_settings=base.settings())
    assert check_summary_meaning(saved, dict(saved, loss_settings=LossConfig().settings()), 's') is None
    mean = LossConfig(loss_reduction='mean').settings()
    message = check_summary_meaning(saved, dict(saved, loss_settings=mean), 's.csv')
    assert 'reduction default -> mean' in message and 'aam_s' not in message
    assert '--loss (train_loss / eval_loss) ce -> bce' in check_summary_meaning(saved, dict(saved, loss='bce'), 's')


def _optimizer(lr, head_scale=10.0, wd=1e-4):
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    groups = [{'params': [a]}, {'params': [b], 'lr_scale': head_scale}]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=wd)


def test_a_changed_lr_lr_scale_or_weight_decay_on_resume_is_refused_and_the_same_flags_pass():
    from timm.scheduler import create_scheduler_v2
    saved = _optimizer(3e-3)
    scheduler, _ = create_scheduler_v2(saved, 'cosine', num_epochs=4, warmup_epochs=1)  # sets initial_lr, steps lr
    scheduler.step(2)
    state = saved.state_dict()

    def resume(optimizer):
        given = optimizer_settings(optimizer)
        optimizer.load_state_dict(state)
        check_resumed_lr(optimizer, given)
    resume(_optimizer(3e-3))  # the same flags: accepted, mid-schedule
    for other, said in ((_optimizer(0.5), 'lr 0.003 -> 0.5'), (_optimizer(3e-3, head_scale=3), 'scale (--head-lr-scale '
                                                                                             '/ --layer-decay) 1 / 10 -> 1 / 3'),
                        (_optimizer(3e-3, wd=0.05), 'weight decay 0.0001 -> 0.05')):
        with pytest.raises(ValueError, match=r'differ from this run.s flags .*' + said.replace('(', r'\(').replace(')', r'\)')
                           .replace('.', r'\.').replace('/', r'\/') + r'.*args\.yaml.*--no-resume-opt'):
            resume(other)
