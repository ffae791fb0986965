""" The run folder's invariants: one writer at a time (a lock), one summary row per epoch whatever interrupted the
last run (each row written after the checkpoint that holds it), summary columns that never change meaning on resume,
and the run state (timm_ml.cli.run_state) in every checkpoint."""
import csv
import logging
import os
import shutil
from typing import Optional, Sequence

from timm.utils import get_outdir, trim_summary, update_summary

from timm_ml.utils.checkpoint_io import MultiLabelCheckpointSaver
from timm_ml.utils.escape import spreadsheet_cell
from timm_ml.utils.faults import fault_point
from timm_ml.utils.lock import RunLock
from timm_ml.utils.writer import write_file

from .run_state import RunState

_logger = logging.getLogger(__name__)


class RunFolderError(ValueError):
    """The run folder cannot be written as asked (changed columns, a resume that would discard epochs)."""


def summary_header(path: str) -> Optional[list]:
    if not os.path.isfile(path) or not os.path.getsize(path):
        return None
    with open(path, newline='') as f:
        return next(csv.reader(f), None)


def summary_epochs(path: str) -> list:
    """The epoch of each row of a summary.csv (none when absent)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline='') as f:
        rows = list(csv.reader(f))[1:]
    return [int(float(r[0])) for r in rows if r and r[0].strip()]


def check_summary_columns(path: str, columns: Sequence[str]):
    """A resumed run must write the columns its summary.csv already has (e.g. a changed --topk renames top3_* to
    top5_*): refuse the resume rather than append rows under the wrong header."""
    header = summary_header(path)
    if header is not None and 'epoch' in header and list(header) != list(columns):
        gone = [c for c in header if c not in columns]
        new = [c for c in columns if c not in header]
        raise RunFolderError(
            f'{path}: this run would write other columns than the summary holds (no longer written: {gone[:6]}, new: '
            f'{new[:6]}): an option that names or adds evaluation columns (--topk, --threshold, --val-split, the head) '
            'changed since the run started. Resume with the original options, or start a new run '
            '(--initial-checkpoint to keep the weights).')


def _rewrite(path: str, change):
    """summary.csv changed whole (the one output writer): a copy changed by `change(tmp)` (timm's update_summary /
    trim_summary), then renamed over it."""
    def write(tmp):
        if os.path.isfile(path):
            shutil.copyfile(path, tmp)
        change(tmp)
    write_file(path, write, 'summary', kinds=None)


def append_summary_row(path: str, epoch, train_metrics, eval_metrics, lr, log_wandb=False):
    """timm's update_summary, atomically: a kill or a full disk leaves the earlier rows whole."""
    _rewrite(path, lambda tmp: update_summary(epoch, train_metrics, eval_metrics, filename=tmp, lr=lr,
                                              log_wandb=log_wandb))


def reconcile_summary(path: str, start_epoch: int, checkpoint_row=None):
    """ Make summary.csv hold exactly one row per finished epoch before `start_epoch`: rows at or after it (written
    by an interrupted run before its checkpoint) are dropped with timm's trim_summary, and the row of the resumed
    checkpoint's epoch, written into the checkpoint before the summary, is appended when the interruption came between
    the two.

    Args:
        path: summary.csv. start_epoch: The first epoch the resumed run trains.
        checkpoint_row: (epoch, train_metrics, eval_metrics, lr) stored in the resumed checkpoint, or None.
    """
    if os.path.isfile(path):
        _rewrite(path, lambda tmp: trim_summary(tmp, start_epoch))
    if checkpoint_row is None:
        return
    epoch, train_metrics, eval_metrics, lr = checkpoint_row
    if epoch != start_epoch - 1:
        return
    if epoch not in summary_epochs(path):
        _logger.info(f'{path}: adding the row of epoch {epoch} from the resumed checkpoint (the run stopped between '
                     'saving the checkpoint and writing its summary row)')
        append_summary_row(path, epoch, train_metrics, eval_metrics, lr)


def write_csv_rows(path: str, rows):
    """A small CSV of the run folder written whole (never through a symlink)."""
    def write(tmp):
        with open(tmp, 'w', newline='') as f:
            csv.writer(f).writerows(rows)
    write_file(path, write, 'run folder', kinds=None)


class RunFolder:
    """ An open run folder: locked for this process, its summary checked against the columns this run writes, its run
    state written into every checkpoint by the saver it creates.

    Args:
        path: The folder. resume: The --resume checkpoint when it continues in this folder, else ''.
        run_state: The run's RunState (loaded from the resumed checkpoint by the caller).
        summary_columns: The summary.csv header this run writes.
    """

    def __init__(self, path: str, run_state: RunState, resume: str = '', summary_columns: Optional[Sequence[str]] = None):
        self.path = path
        self.lock = RunLock(path)
        self.resume = resume
        self.run_state = run_state
        self.summary = os.path.join(path, 'summary.csv')
        self.pending_row = None
        self.saver = None
        if resume:
            if summary_columns is not None:
                check_summary_columns(self.summary, summary_columns)
            run_state.check_meaning(self.summary)

    def create_saver(self, **kwargs) -> MultiLabelCheckpointSaver:
        """timm's CheckpointSaver confined to this folder; the run state rides in its state, and the epoch's summary
        row is written once its checkpoint is (an interruption between the two resumes to one row per epoch)."""
        self.saver = MultiLabelCheckpointSaver(run_state=self, **dict(kwargs, checkpoint_dir=self.path,
                                                                       recovery_dir=self.path))
        if self.resume:
            self.saver.load_state_dict_from_checkpoint(self.resume)
        return self.saver

    # the saver's hooks
    def state_dict(self):
        return self.run_state.state_dict()

    def checkpoint_saved(self, epoch: int):
        if self.pending_row is not None and self.pending_row[0] == epoch:
            row, self.pending_row = self.pending_row, None
            append_summary_row(self.summary, *row)
            fault_point('summary_written')
        self.run_state.summary_row = None
        fault_point('epoch_end')

    def add_summary_row(self, epoch, train_metrics, eval_metrics, lr, log_wandb=False):
        """The epoch's row: held in the run state until its checkpoint is written, then appended to summary.csv."""
        self.pending_row = (epoch, dict(train_metrics), dict(eval_metrics or {}), lr, log_wandb)
        self.run_state.summary_row = (epoch, train_metrics, eval_metrics or {}, lr)

    def check_resume_point(self, start_epoch: int):
        """Resuming in place from a checkpoint older than the folder's summary would delete finished epochs' rows
        (and later overwrite their checkpoints): refused."""
        epochs = summary_epochs(self.summary) if self.resume else []
        later = [e for e in epochs if e >= start_epoch]
        if later:
            raise RunFolderError(
                f'--resume {self.resume}: it continues at epoch {start_epoch}, but {self.summary} already holds epochs '
                f'up to {max(later)}; resuming in place would discard them. Resume from '
                f'{os.path.join(self.path, "last.pth.tar")}, or continue this checkpoint in a new folder '
                '(--experiment <new name>).')

    def check_epochs_left(self, start_epoch: int, num_epochs: int) -> bool:
        """A run with nothing left to train is refused, unless the resume completes the records of its interrupted
        last epoch (repaired links, or its missing summary row): then True (records completed, nothing trained)."""
        if start_epoch < num_epochs:
            return False
        epochs = summary_epochs(self.summary) if self.resume else []
        repaired = self.saver is not None and self.saver.repaired
        if self.resume and (repaired or start_epoch - 1 not in epochs):
            _logger.warning(f'The run was interrupted while recording its last epoch ({start_epoch - 1}): its records '
                            f'are completed now; all {num_epochs} epochs are trained (raise --epochs to train on).')
            return True
        raise RunFolderError(f'--resume {self.resume or "checkpoint"}: it already holds {start_epoch} of the '
                             f'{num_epochs} scheduled epochs, nothing is left to train; raise --epochs to train on.')

    def reconcile_summary(self, start_epoch: int):
        if self.resume:
            reconcile_summary(self.summary, start_epoch, self.run_state.resumed.get('summary_row'))

    def write_split_record(self, train, val=None):
        """A seeded split (a layout without split files) is written beside the run as split.csv (path, split)."""
        if not train.split.startswith('train (seeded'):
            return None
        out = os.path.join(self.path, 'split.csv')
        rows = [['path', 'split']] + [[spreadsheet_cell(p), name] for name, labels in (('train', train), ('val', val))
                                      if labels is not None for p in labels.paths]
        write_csv_rows(out, rows)
        _logger.info(f'Seeded split ({train.split[len("train "):]}) written to {out}')
        return out


def open_run_folder(output_base: str, exp_name: str, run_state: RunState, resume: str = '',
                    summary_columns=None) -> RunFolder:
    """ The run folder of train.py: a new run never appends to an older run's folder (timm's get_outdir with inc); a
    --resume continues in place only in the resumed checkpoint's own folder (any other name gets a new folder)."""
    target = os.path.join(output_base, exp_name)
    in_place = bool(resume) and os.path.abspath(target) == os.path.abspath(os.path.dirname(resume))
    if not in_place and never_started(target):  # a run that failed before its first epoch: its rerun takes the folder
        _logger.info(f'{target}: a run that stopped before its first epoch; this run writes there again')
        return RunFolder(_run_dir(output_base, exp_name, inc=False), run_state, '', summary_columns)
    path = _run_dir(output_base, exp_name, inc=not in_place)
    if os.path.abspath(path) != os.path.abspath(target):
        last = os.path.join(target, 'last.pth.tar')
        _logger.warning(f'{target} holds another run: this run writes {path}'
                        + (f' (to continue that run: --resume {last})' if os.path.isfile(last) else ''))
    return RunFolder(path, run_state, resume if in_place else '', summary_columns)


def _run_dir(output_base: str, exp_name: str, inc: bool) -> str:
    """timm's get_outdir, never into a symlinked folder nor into one holding symlinks (a planted link at a name the
    saver writes, checkpoint-N.pth.tar or last.pth.tar, would make its copy write through it); a folder that cannot be
    made is one error naming it."""
    target = os.path.join(output_base, exp_name)
    for folder in (output_base, target):
        if os.path.islink(folder):
            raise RunFolderError(f'{folder} is a symlink: a run folder is never written through one; give --output '
                                 'a real folder')
    try:
        path = get_outdir(output_base, exp_name, inc=inc)
    except OSError as e:
        raise RunFolderError(f'--output {output_base}: cannot make the run folder {target} ({e.strerror})') from None
    links = sorted(n for n in os.listdir(path) if os.path.islink(os.path.join(path, n)))
    if links:
        raise RunFolderError(f'{path} holds symlinks ({", ".join(links[:5])}): the run would write through them; '
                             'remove them or choose another --experiment')
    return path


def never_started(folder: str) -> bool:
    """A run folder of ours holding nothing a finished epoch writes (no checkpoint, no summary row): what a run that
    failed while starting leaves (its lock, args.yaml, split.csv, data_card.json). A folder without our lock file is a
    user's, never taken over."""
    if not os.path.isdir(folder) or os.path.islink(folder):
        return False
    names = set(os.listdir(folder))
    lock = os.path.join(folder, '.lock')
    return '.lock' in names and os.path.isfile(lock) and not os.path.islink(lock) and \
        not any(n.endswith('.pth.tar') for n in names) and 'summary.csv' not in names and \
        names <= {'args.yaml', 'split.csv', 'data_card.json', '.lock', 'tensorboard'}
