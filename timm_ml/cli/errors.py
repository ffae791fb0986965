""" How the scripts end: a user error prints one `error: ...` line and exits 2 (the traceback with --debug or
TIMM_ML_DEBUG=1); SIGTERM / SIGINT stop training at the next step boundary, which saves a recovery checkpoint and exits
128 + the signal number (143 / 130), never 0."""
import errno
import logging
import os
import signal
import sys

from timm_ml.data import BadImageError, LabelFileError
from timm_ml.loss.prior import PriorFileError
from timm_ml.models.label_embeddings import LabelEmbeddingError
from timm_ml.schema import SchemaError
from timm_ml.utils.checkpoint_io import CheckpointError
from timm_ml.utils.lock import LockedError
from timm_ml.utils.outputs import OutputError

from .run_folder import RunFolderError

_logger = logging.getLogger(__name__)

EXIT_USAGE = 2


class UserError(ValueError):
    """A command-line or data problem the user fixes; the message says how."""


def user_errors():
    """The exception types that are the user's input, not a bug: they get one line, not a traceback."""
    return (LabelFileError, BadImageError, CheckpointError, RunFolderError, SchemaError, LabelEmbeddingError,
            PriorFileError, LockedError, OutputError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError, UserError)


class Interrupted(Exception):
    """Training stopped by a signal after saving its state."""

    def __init__(self, signum: int, saved: str = ''):
        super().__init__(f'{signal.Signals(signum).name}' + (f': state saved in {saved}' if saved else ''))
        self.signum = signum
        self.saved = saved


class StopRequest:
    """ Records SIGTERM / SIGINT instead of dying mid-write; the training loop asks `requested` at each step boundary.
    A second signal of the same kind while stopping ends the process at once (the default action)."""

    def __init__(self):
        self.signum = None
        self._previous = {}
        self.pid = os.getpid()

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if os.getpid() != self.pid:
            return  # a data-loader worker forked after install: the main process decides (Ctrl-C reaches all)
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.signum = signum
        _logger.warning(f'{signal.Signals(signum).name} received: stopping after this step and saving a recovery '
                        'checkpoint (send it again to stop at once)')

    @property
    def requested(self) -> bool:
        return self.signum is not None


def run_cli(main, argv=None):
    """Run a script's main(): user errors as one `error:` line and exit 2; Interrupted as exit 128 + signal."""
    debug = os.environ.get('TIMM_ML_DEBUG') == '1' or '--debug' in (argv if argv is not None else sys.argv)
    try:
        return main()
    except Interrupted as e:
        print(f'stopped: {e}. Continue with --resume {e.saved}' if e.saved else f'stopped: {e}', file=sys.stderr)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt:  # Ctrl-C before training began (nothing to save)
        print('stopped: SIGINT', file=sys.stderr)
        sys.exit(128 + signal.SIGINT)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - classify, then re-raise what is not the user's
        full = _disk_full(e)
        if full is not None and not debug:
            where = f'{full.strerror}: {full.filename}' if full.filename else _one_line(full)
            _error_line(where + (f' ({_one_line(e)})' if e is not full else ''))
        if debug or not isinstance(e, user_errors() + (ValueError, FloatingPointError)) or _looks_internal(e):
            raise
        _error_line(_one_line(e))


def _error_line(message: str):
    """The one `error:` line (naming the rank under torchrun), also appended to $TIMM_ML_ERROR_FILE when set, so
    distributed_train.sh can print it last, below torchrun's report of the failed child; exit 2."""
    rank = os.environ.get('RANK')
    line = f'{f"[rank {rank}] " if rank not in (None, "0") else ""}error: {message}'
    print(line, file=sys.stderr)
    sys.stderr.flush()
    errors_file = os.environ.get('TIMM_ML_ERROR_FILE')
    if errors_file:
        try:
            with open(errors_file, 'a') as f:
                f.write(line + '\n')
        except OSError:
            pass
    sys.exit(EXIT_USAGE)


def _disk_full(e: BaseException):
    """The ENOSPC error anywhere in the chain of causes (a full disk is the user's to fix, whichever write hit it)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EFBIG):
            return e
        e = e.__cause__ or e.__context__
    return None


def _looks_internal(e: Exception) -> bool:
    """A bare ValueError raised inside torch / numpy is a bug report, not a user message."""
    if isinstance(e, user_errors()):
        return False
    tb = e.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.dirname(here)
    return not (last and (last.startswith(here) or os.path.dirname(last) == root))


MAX_ERROR_CHARS = 4000


def _one_line(e: Exception) -> str:
    """The message of `e` on one line; an exception a DataLoader worker raised (torch re-raises it with the worker's
    whole traceback as its message) is reduced to the original message."""
    text = str(e).strip() or type(e).__name__
    if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)) and e.filename:
        text = f'{e.strerror}: {e.filename}'
    if text.startswith('Caught ') and 'Original Traceback' in text:
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        name, sep, message = last.partition(': ')
        text = message if sep and name.split('.')[-1] == type(e).__name__ else last
    text = ' '.join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) > MAX_ERROR_CHARS:  # a million column names listed is no error line; its advice is at the end
        left_out = len(text) - MAX_ERROR_CHARS
        text = text[:MAX_ERROR_CHARS - 800] + f' ... [{left_out} characters left out] ... ' + text[-800:]
    return text
