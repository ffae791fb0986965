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
