""" Fault injection (slow tier): train.py is killed for real (SIGKILL via TIMM_ML_FAULT) at each step of the
epoch-end write sequence, or stopped by SIGTERM / SIGINT, then resumed. After every case: one summary row per epoch,
the uninterrupted run's metrics, model_best = the best row, and nothing outside the run folder touched."""
import glob
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from tests.helpers import ROOT, TINY, run_script
from timm_ml.utils.checkpoint_io import load_checkpoint_file

pytestmark = pytest.mark.slow

# per-update schedule: a recovery resume must continue the learning rate after the updates it holds
ARGS = [*TINY, '--epochs', '3', '-b', '24', '--recovery-interval', '3', '--checkpoint-hist', '2', '--sched-on-updates']
COLUMNS = ('eval_map', 'eval_loss', 'eval_OF1', 'train_loss', 'lr')


def _snapshot(root, skip):
    """(path, size, mtime) of every file under root outside `skip` (the run folder)."""
    out = set()
    for d, _, files in os.walk(root):
        if os.path.abspath(d).startswith(os.path.abspath(skip)):
            continue
        out |= {(os.path.join(d, f), os.path.getsize(os.path.join(d, f)), os.path.getmtime(os.path.join(d, f)))
                for f in files}
    return out


@pytest.fixture(scope='module')
def uninterrupted(mosaic_data, tmp_path_factory):
    out = tmp_path_factory.mktemp('full')
    run_script(['train.py', mosaic_data, *ARGS, '--output', str(out), '--experiment', 'full'])
    summary = pd.read_csv(out / 'full' / 'summary.csv')
    summary.attrs['history'] = sorted(glob.glob1(str(out / 'full'), 'checkpoint-*.pth.tar'))
    return summary


def _check_invariants(run, full, outside_before, roots):
    summary = pd.read_csv(os.path.join(run, 'summary.csv'))
    assert list(summary.epoch) == [0, 1, 2], summary.epoch.tolist()  # exactly one row per epoch
    for col in COLUMNS:
        assert (summary[col] - full[col]).abs().max() < 1e-9, col  # the uninterrupted run's numbers
    assert sorted(glob.glob1(run, 'checkpoint-*.pth.tar')) == full.attrs['history']  # the same kept epochs
    best = load_checkpoint_file(os.path.join(run, 'model_best.pth.tar'))
    assert best['epoch'] == int(summary.epoch[summary.eval_map.idxmax()])  # model_best is the best row
    now = set().union(*(_snapshot(r, run) for r in roots))
    assert now == outside_before  # nothing outside the run folder touched (the data included)


@pytest.mark.parametrize('point', ['checkpoint_written:2', 'last_renamed:2', 'epoch_linked:2', 'best_linked:1',
                                   'summary_written:2', 'epoch_end:2', 'recovery_renamed:2', 'history_cleanup:1'])
def test_killed_at_each_write_step_then_resumed(point, uninterrupted, mosaic_data, tmp_path):
    outside = _snapshot(str(tmp_path), str(tmp_path / 'run')) | _snapshot(mosaic_data, str(tmp_path / 'run'))
    proc = run_script(['train.py', mosaic_data, *ARGS, '--output', str(tmp_path), '--experiment', 'run'],
                      env={'TIMM_ML_FAULT': point}, check=False)
    assert proc.returncode == -signal.SIGKILL, (point, proc.stderr[-2000:])
    run = str(tmp_path / 'run')
    recoveries = sorted(glob.glob(os.path.join(run, 'recovery-*.pth.tar')), key=os.path.getmtime)
    last = os.path.join(run, 'last.pth.tar')
    resume = recoveries[-1] if point.startswith('recovery') else last
    run_script(['train.py', mosaic_data, *ARGS, '--output', str(tmp_path), '--experiment', 'run', '--resume', resume])
    assert not os.path.exists(str(tmp_path / 'run-1'))  # resumed in place
    _check_invariants(run, uninterrupted, outside, [str(tmp_path), mosaic_data])


@pytest.mark.parametrize('signum,workers', [(signal.SIGTERM, '0'), (signal.SIGINT, '0'), (signal.SIGTERM, '2')])
def test_sigterm_and_sigint_save_a_recovery_checkpoint_and_exit_nonzero(signum, workers, uninterrupted, mosaic_data,
                                                                        tmp_path):
    """Also with loader workers: the shuffle, the augmentation and the main process's randomness depend on (seed,
    epoch, sample / batch) only, so 2 persistent workers interrupted and resumed give the 0-worker run's numbers."""
    args = [*ARGS, '-j', workers]
    proc = subprocess.Popen([sys.executable, 'train.py', mosaic_data, *args, '--output', str(tmp_path),
                             '--experiment', 'run', '--log-interval', '1'], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = []
    start = time.time()
    for line in proc.stdout:  # stop in the middle of epoch 1, as a cluster preempts a job
        lines.append(line)
        if 'Train: 1 [   3/' in line:
            proc.send_signal(signum)
        assert time.time() - start < 300
    proc.wait()
    output = ''.join(lines)
    assert proc.returncode == 128 + signum, output[-3000:]
    assert '--result' not in output  # not reported as a finished run
    saved = output.split('Continue with --resume ')[-1].split()[0]
    assert os.path.basename(saved).startswith('recovery-1-')
    run_script(['train.py', mosaic_data, *args, '--output', str(tmp_path), '--experiment', 'run', '--resume', saved])
    run = str(tmp_path / 'run')
    summary = pd.read_csv(os.path.join(run, 'summary.csv'))
    assert list(summary.epoch) == [0, 1, 2]
    for col in COLUMNS:
        assert (summary[col] - uninterrupted[col]).abs().max() < 1e-9, col  # the exact resume of the partial epoch


def test_a_second_run_into_the_same_folder_is_refused(mosaic_data, tmp_path):
    from timm_ml.utils.lock import RunLock
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--output', str(tmp_path), '--experiment', 'run'])
    lock = RunLock(str(tmp_path / 'run'))  # another train.py holding the folder
    proc = run_script(['train.py', mosaic_data, *TINY, '--epochs', '2', '--output', str(tmp_path), '--experiment',
                       'run', '--resume', str(tmp_path / 'run' / 'last.pth.tar')], check=False)
    assert proc.returncode == 2 and 'is being written by train.py pid' in proc.stderr
    assert proc.stderr.count('error:') == 1 and 'Traceback' not in proc.stderr
    lock.release()
    # a changed option that renames summary columns is refused on resume, before anything is written
    before = (tmp_path / 'run' / 'summary.csv').read_text()
    proc = run_script(['train.py', mosaic_data, *TINY, '--epochs', '2', '--topk', '5', '--output', str(tmp_path),
                       '--experiment', 'run', '--resume', str(tmp_path / 'run' / 'last.pth.tar')], check=False)
    assert proc.returncode == 2 and 'eval_top5_CF1' in proc.stderr
    assert (tmp_path / 'run' / 'summary.csv').read_text() == before


def test_a_poisoned_checkpoint_history_deletes_nothing_outside(mosaic_data, tmp_path):
    run_script(['train.py', mosaic_data, *TINY, '--epochs', '1', '--output', str(tmp_path), '--experiment', 'run'])
    victim = tmp_path / 'precious.pth.tar'
    victim.write_text('keep me')
    last = tmp_path / 'run' / 'last.pth.tar'
    ck = load_checkpoint_file(str(last))
    ck['saver']['checkpoint_files'] = [('../precious.pth.tar', 99.), (str(victim), 98.)] + \
        list(ck['saver']['checkpoint_files'])
    torch.save(ck, last)
    proc = run_script(['train.py', mosaic_data, *TINY, '--epochs', '4', '--checkpoint-hist', '1', '--output',
                       str(tmp_path), '--experiment', 'run', '--resume', str(last)])
    assert victim.read_text() == 'keep me'
    assert "Ignoring checkpoint history entry '../precious.pth.tar'" in proc.stderr


def test_a_resume_keeps_early_stopping_and_refuses_changed_meaning(mosaic_data, tmp_path):
    """Killed inside epoch 1 of a run that early-stops there: the resume stops where the uninterrupted run stops (its
    counters are in the checkpoint); a changed --threshold or --lr in place is refused, not mixed into the records."""
    args = [*TINY, '-b', '24', '--recovery-interval', '3', '--epochs', '4', '--early-stop-patience', '1',
            '--early-stop-min-delta', '100', '--output', str(tmp_path), '--experiment', 'es']
    killed = run_script(['train.py', mosaic_data, *args], env={'TIMM_ML_FAULT': 'recovery_renamed:3'}, check=False)
    assert killed.returncode == -signal.SIGKILL
    run = tmp_path / 'es'
    recovery = sorted(glob.glob(str(run / 'recovery-1-*.pth.tar')))[-1]  # inside epoch 1
    for flags, said in ((['--threshold', '0.2'], '--threshold 0.5 -> 0.2'),
                        (['--lr', '0.5'], 'lr 0.003 -> 0.5')):
        refused = run_script(['train.py', mosaic_data, *args, *flags, '--resume', recovery], check=False)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr[-2000:]
    done = run_script(['train.py', mosaic_data, *args, '--resume', recovery])
    assert list(pd.read_csv(run / 'summary.csv').epoch) == [0, 1]  # as uninterrupted: stopped after epoch 1
    assert 'Early stopping at epoch 1' in done.stderr + done.stdout and 'at epoch 0)' in done.stderr + done.stdout
