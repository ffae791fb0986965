""" How the scripts end on a user error: one `error:` line naming the file / row / flag, exit 2; the traceback with
--debug or TIMM_ML_DEBUG=1; bugs keep their traceback."""
import pytest

from timm_ml.data import LabelFileError
from timm_ml.cli import run_cli


def _fails(exc):
    def main():
        raise exc
    return main


def test_user_errors_are_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv('TIMM_ML_DEBUG', raising=False)
    with pytest.raises(SystemExit) as e:
        run_cli(_fails(LabelFileError('data/train.csv: row 3: label \'zebra\' is not in the class list')), argv=[])
    assert e.value.code == 2
    assert capsys.readouterr().err == "error: data/train.csv: row 3: label 'zebra' is not in the class list\n"
    with pytest.raises(SystemExit):
        run_cli(_fails(FileNotFoundError(2, 'No such file or directory', 'ck.pth.tar')), argv=[])
    assert capsys.readouterr().err == 'error: No such file or directory: ck.pth.tar\n'


def test_debug_shows_the_traceback_and_bugs_keep_theirs(monkeypatch):
    with pytest.raises(LabelFileError):
        run_cli(_fails(LabelFileError('x')), argv=['--debug'])
    monkeypatch.setenv('TIMM_ML_DEBUG', '1')
    with pytest.raises(LabelFileError):
        run_cli(_fails(LabelFileError('x')), argv=[])
    monkeypatch.delenv('TIMM_ML_DEBUG')
    with pytest.raises(ZeroDivisionError):
        run_cli(_fails(ZeroDivisionError('a bug')), argv=[])


def test_a_full_disk_anywhere_and_ctrl_c_before_training_end_cleanly(capsys, monkeypatch):
    import errno
    monkeypatch.delenv('TIMM_ML_DEBUG', raising=False)

    def summary_write():
        try:
            raise OSError(errno.ENOSPC, 'No space left on device', 'run/summary.csv')
        except OSError as e:
            raise RuntimeError('while writing the summary') from e  # however deep the write that hit it
    with pytest.raises(SystemExit) as e:
        run_cli(summary_write, argv=[])
    assert e.value.code == 2
    assert capsys.readouterr().err == 'error: No space left on device: run/summary.csv (while writing the summary)\n'

    def interrupted():
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as e:
        run_cli(interrupted, argv=[])
    assert e.value.code == 130 and capsys.readouterr().err == 'stopped: SIGINT\n'


def test_an_error_raised_in_a_loader_worker_is_its_own_one_line(capsys, monkeypatch, tmp_path):
    """torch re-raises a worker's exception with the worker's whole traceback as its message (45-67 lines on stderr
    with workers, one line with -j 0): the line is the original message, as without workers."""
    import torch
    from timm_ml.data import BadImageError

    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise BadImageError(f'Cannot read image {tmp_path}/x.png (entry {i} of train.csv): truncated')
    monkeypatch.delenv('TIMM_ML_DEBUG', raising=False)
    monkeypatch.setenv('TIMM_ML_ERROR_FILE', str(tmp_path / 'errors'))
    with pytest.raises(SystemExit) as e:
        run_cli(lambda: list(torch.utils.data.DataLoader(Broken(), num_workers=1)), argv=[])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and 'Traceback' not in err
    assert err == f'error: Cannot read image {tmp_path}/x.png (entry 0 of train.csv): truncated\n'
    assert (tmp_path / 'errors').read_text() == err  # for distributed_train.sh to print last


@pytest.mark.slow
@pytest.mark.parametrize('command', [
    ['train.py'], ['validate.py'], ['infer.py'], ['-m', 'timm_ml.plot'], ['-m', 'timm_ml.report'],
    ['-m', 'timm_ml.data.to_shards'], ['-m', 'timm_ml.models.convert'], ['-m', 'timm_ml.deploy.onnx_predict'],
])
def test_every_command_answers_help_with_exit_0(command):
    import subprocess
    import sys
    from tests.helpers import ROOT
    proc = subprocess.run([sys.executable, *command, '--help'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and 'usage' in proc.stdout.lower(), (command, proc.stderr[-500:])
