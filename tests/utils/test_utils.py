""" Small utilities: the summary plot refuses headerless files, --dist-timeout reaches the process group, train.py's
argument checks."""
import datetime

import pytest

from timm_ml.plot import read_summary


def test_plot_refuses_a_summary_without_header(tmp_path):
    (tmp_path / 'summary.csv').write_text('3,0.5,0.6,40.0\n4,0.4,0.5,42.0\n')
    with pytest.raises(ValueError, match='no header row with an "epoch" column'):
        read_summary(str(tmp_path / 'summary.csv'))


def test_dist_timeout_reaches_the_process_group(monkeypatch):
    import torch.distributed as dist
    from timm_ml.utils.distributed import install_process_group_timeout
    seen = {}
    fake = lambda *a, **k: seen.update(k)  # noqa: E731
    monkeypatch.setattr(dist, 'init_process_group', fake)
    install_process_group_timeout(2.5)
    install_process_group_timeout(4)  # installed twice: the last value, one wrapper
    dist.init_process_group(backend='gloo')
    assert seen['timeout'] == datetime.timedelta(minutes=4)
    assert dist.init_process_group.wrapped is fake


@pytest.mark.parametrize('flags,message', [
    (['--epochs', '0'], '--epochs must be >= 1'), (['--topk', '0'], '--topk must be >= 1'),
    (['--log-interval', '0'], '--log-interval must be >= 1'), (['--checkpoint-hist', '0'], '--checkpoint-hist'),
    (['--input-img-mode', 'L', '--input-size', '3', '32', '32'], '--input-img-mode L gives 1 channels'),
    (['-b', '0'], '-b 0: the batch size must be >= 1'), (['--lr', '-1'], '--lr -1.0: a learning rate must be >= 0 and finite'), (['--lr', 'inf'], '--lr inf'),
    (['--mean', '0.5', '0.5'], '--mean has 2 values for 3 input channels: give 1 or 3'),
    (['--std', '0'], '--std 0.0: every std must be > 0'),
    (['--grad-accum-steps', '0'], '--grad-accum-steps 0: at least 1'),
    (['--fill-unknown', 'teacher'], '--fill-unknown need a teacher'),
    (['--kd-checkpoint', 'a', '--kd-model-name', 'b'], 'both name a teacher'),
    (['--kd-model-name', 'b', '--kd-distill-type', 'token'], 'single-label target'),
])
def test_zero_and_contradictory_values_are_refused(flags, message, capsys):
    import train
    args = train.parser.parse_args(['x', *flags])
    with pytest.raises(SystemExit):
        from timm_ml.cli.train_args import check_train_args
        check_train_args(args, train.parser)
    assert message in capsys.readouterr().err


def test_defaults_that_cannot_fit_the_run_are_said_with_the_value_that_would():
    from types import SimpleNamespace
    from timm_ml.cli.train_args import check_recipe_fits
    args = SimpleNamespace(model_ema=True, model_ema_warmup=False, model_ema_decay=0.9999, warmup_epochs=5,
                           sched='cosine')
    notes = check_recipe_fits(args, updates_per_epoch=40, num_epochs=3, log=False)  # 120 updates
    assert any('--model-ema-decay 0.9999 averages over ~10000 updates but the run has 120' in n and
               '--model-ema-decay 0.9167' in n for n in notes)
    assert any('--warmup-epochs 5 covers 100% of a 3-epoch run' in n and 'use --warmup-epochs 0' in n for n in notes)
    tiny = check_recipe_fits(args, updates_per_epoch=2, num_epochs=3, log=False)  # 6 updates: 1 - 10 / 6 < 0
    assert any('drop --model-ema' in n for n in tiny) and not any('-0.' in n for n in tiny)
    fitting = SimpleNamespace(model_ema=True, model_ema_warmup=False, model_ema_decay=0.99, warmup_epochs=1,
                              sched='cosine')
    assert check_recipe_fits(fitting, updates_per_epoch=400, num_epochs=30, log=False) == []
