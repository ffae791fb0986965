""" The run folder's invariants: one writer at a time (a lock), one summary row per epoch whatever interrupted the
last run, summary columns that never change meaning on resume, and outputs that never overwrite inputs."""
import csv
import fcntl
import json
import logging
import os
import re
import socket
from typing import Iterable, Optional, Sequence

from timm.utils import get_outdir, trim_summary, update_summary

from .checkpoint_io import MultiLabelCheckpointSaver
from .faults import fault_point

_logger = logging.getLogger(__name__)

LOCK_FILE = '.lock'


class RunFolderError(ValueError):
    """The run folder cannot be written as asked (another writer, changed columns, an output that is an input)."""


class RunLock:
    """ An exclusive lock on a run folder held for the life of the process (fcntl.flock on <folder>/.lock): a second
    train.py writing the same folder is refused, naming the holder; the kernel drops the lock of a dead process, so a
    stale lock file is simply taken over.

    Args:
        folder: The run folder.
        tool: The writer named in the lock file.
        advice: What the refusal tells the second writer to do.
    """

    def __init__(self, folder: str, tool: str = 'train.py',
                 advice: str = 'two runs must not write one run folder (wait for it to end, or give this run another '
                               '--experiment)'):
        self.path = os.path.join(folder, LOCK_FILE)
        self.file = open(self.path, 'a+')
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or 'another process'
            self.file.close()
            raise RunFolderError(f'{folder} is being written by {holder}: {advice}') from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f'{tool} pid {os.getpid()} on {socket.gethostname()}\n')
        self.file.flush()

    def release(self):
        if not self.file.closed:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()


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


def reconcile_summary(path: str, start_epoch: int, checkpoint_row=None):
    """ Make summary.csv hold exactly one row per finished epoch before `start_epoch`: rows at or after it (written
    by an interrupted run before its checkpoint) are dropped with timm's trim_summary, and the row of the resumed
    checkpoint's epoch, written into the checkpoint before the summary, is appended when the interruption came between
    the two.

    Args:
        path: summary.csv. start_epoch: The first epoch the resumed run trains.
        checkpoint_row: (epoch, train_metrics, eval_metrics, lr) stored in the resumed checkpoint, or None.
    """
    trim_summary(path, start_epoch)
    if checkpoint_row is None:
        return
    epoch, train_metrics, eval_metrics, lr = checkpoint_row
    if epoch != start_epoch - 1:
        return
    if epoch not in summary_epochs(path):
        _logger.info(f'{path}: adding the row of epoch {epoch} from the resumed checkpoint (the run stopped between '
                     'saving the checkpoint and writing its summary row)')
        update_summary(epoch, train_metrics, eval_metrics, filename=path, lr=lr)


def check_outputs_are_not_inputs(outputs: Iterable[Optional[str]], inputs: Iterable[Optional[str]], flag: str):
    """An output path that names an input file (a label file, a checkpoint) would overwrite it: refuse."""
    real_inputs = {os.path.realpath(p): p for p in inputs if p and os.path.exists(p)}
    for out in outputs:
        if out and os.path.realpath(out) in real_inputs:
            raise RunFolderError(f'{flag} {out}: that is an input ({real_inputs[os.path.realpath(out)]}); writing it '
                                 'would destroy it. Name another file.')


_RESULTS_JSON = re.compile(r'^\s*(\[\s*\]|\[?\s*\{\s*"model"\s*:)')


def own_output_kind(path: str) -> Optional[str]:
    """ What an existing file is, from its first bytes: one of validate.py's `results` (json / csv, failed runs
    included) or `per-class` tables and charts, infer.py's `predictions` (csv / json / jsonl, whatever the extension),
    or None for anything else (a label file, a checkpoint, an image, a user's file).

    Args:
        path: The existing file.
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if head.startswith(b'\x89PNG'):
        table = path[:-len('.png')] + '.csv' if path.endswith('_per_class.png') else None
        return 'per-class' if table and os.path.isfile(table) and own_output_kind(table) == 'per-class' else None
    text = head.decode('utf-8', 'replace')
    first_line = text.split('\n', 1)[0].strip()
    if _RESULTS_JSON.match(text):
        return 'results'
    if text.lstrip().startswith('{"classes": ['):  # an OTX label file starts so too: predictions go on with thresholds
        return 'predictions' if _classes_then_thresholds(path) else None
    if first_line.startswith('{'):
        try:
            record = json.loads(first_line)
        except ValueError:
            record = None
        if isinstance(record, dict) and 'path' in record and ('scores' in record or 'error' in record):
            return 'predictions'  # JSON lines
        return None
    cells = next(csv.reader([first_line]), [])
    if cells[:1] == ['model'] and ('checkpoint' in cells or cells == ['model', 'error']):
        return 'results'
    if cells[:3] == ['index', 'name', 'ap']:
        return 'per-class'
    if cells[:2] == ['path', 'labels'] and len(cells) > 2 and re.fullmatch(r'top\d+', cells[2]):
        return 'predictions'
    return None


def _classes_then_thresholds(path: str) -> bool:
    """write_predictions_json's document: {"classes": [...], "thresholds": [...], "predictions": ...}."""
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read(16 << 20).lstrip()
    try:
        _, end = json.JSONDecoder().raw_decode(text, len('{"classes": '))
    except ValueError:
        return False
    return text.startswith(', "thresholds": [', end)


def check_replaceable(outputs: Iterable[Optional[str]], flag: str, kinds: Sequence[str]):
    """ An output may replace an existing file only when that file is an earlier output of one of `kinds` (rerunning
    validate.py or infer.py into the same file); any other file (another split's labels, a checkpoint, predictions
    where results go, a user's table) is refused: the tools never destroy what they did not write."""
    for out in outputs:
        if out and os.path.isfile(out) and os.path.getsize(out):
            kind = own_output_kind(out)
            if kind not in kinds:
                what = f'it holds {kind} of ours' if kind else 'it is not a file of ours (a label file, a checkpoint ' \
                                                               'or a file of yours)'
                raise RunFolderError(f'{flag} {out}: that file exists and {what}; writing it would destroy it. Name a '
                                     'new file, or remove this one first.')


def write_epoch_summary(epoch, train_metrics, eval_metrics, filename, lr=None, log_wandb=False):
    """timm's update_summary (header when the file is new or empty), then the fault point after the row."""
    update_summary(epoch, train_metrics, eval_metrics, filename=filename, lr=lr, log_wandb=log_wandb)
    fault_point('summary_written')


class RunFolder:
    """ An open run folder: locked for this process, its summary checked against the columns this run writes.

    Args:
        path: The folder. resume: The --resume checkpoint when it continues in this folder, else ''.
        summary_columns: The summary.csv header this run writes.
    """

    def __init__(self, path: str, resume: str = '', summary_columns: Optional[Sequence[str]] = None):
        self.path = path
        self.lock = RunLock(path)
        self.resume = resume
        self.summary = os.path.join(path, 'summary.csv')
        if resume and summary_columns is not None:
            check_summary_columns(self.summary, summary_columns)

    def check_summary_meaning(self, saved, current):
        """A resume in place appends rows that must mean what the summary's rows mean (threshold, split, metric)."""
        from timm_ml.task.multilabel import check_summary_meaning
        message = check_summary_meaning(saved, current, self.summary) if self.resume else None
        if message:
            raise RunFolderError(message)

    def create_saver(self, **kwargs) -> MultiLabelCheckpointSaver:
        saver = MultiLabelCheckpointSaver(checkpoint_dir=self.path, recovery_dir=self.path, **kwargs)
        if self.resume:
            saver.load_state_dict_from_checkpoint(self.resume)
        return saver

    def check_resume_point(self, start_epoch: int, num_epochs: int, repaired: bool = False) -> bool:
        """Resuming in place from a checkpoint older than the folder's summary would delete finished epochs' rows
        (and later overwrite their checkpoints): refused. A run with nothing left to train is refused too, unless the
        resume completes the records of its interrupted last epoch (`repaired` links, or its missing summary row):
        then True (the records are completed and nothing is trained)."""
        epochs = summary_epochs(self.summary) if self.resume else []
        later = [e for e in epochs if e >= start_epoch]
        if later:
            raise RunFolderError(
                f'--resume {self.resume}: it continues at epoch {start_epoch}, but {self.summary} already holds epochs '
                f'up to {max(later)}; resuming in place would discard them. Resume from '
                f'{os.path.join(self.path, "last.pth.tar")}, or continue this checkpoint in a new folder '
                '(--experiment <new name>).')
        if start_epoch < num_epochs:
            return False
        if self.resume and (repaired or start_epoch - 1 not in epochs):
            _logger.warning(f'The run was interrupted while recording its last epoch ({start_epoch - 1}): its records '
                            f'are completed now; all {num_epochs} epochs are trained (raise --epochs to train on).')
            return True
        raise RunFolderError(f'--resume {self.resume or "checkpoint"}: it already holds {start_epoch} of the '
                             f'{num_epochs} scheduled epochs, nothing is left to train; raise --epochs to train on.')

    def reconcile_summary(self, start_epoch: int, checkpoint_row=None):
        if self.resume:
            reconcile_summary(self.summary, start_epoch, checkpoint_row)

    def write_split_record(self, train, val=None):
        """A seeded split (a layout without split files) is written beside the run as split.csv (path, split)."""
        if not train.split.startswith('train (seeded'):
            return None
        out = os.path.join(self.path, 'split.csv')
        with open(out, 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['path', 'split'])
            for name, labels in (('train', train), ('val', val)):
                if labels is not None:
                    w.writerows([p, name] for p in labels.paths)
        _logger.info(f'Seeded split ({train.split[len("train "):]}) written to {out}')
        return out


def open_run_folder(output_base: str, exp_name: str, resume: str = '', summary_columns=None) -> RunFolder:
    """ The run folder of train.py: a new run never appends to an older run's folder (timm's get_outdir with inc); a
    --resume continues in place only in the resumed checkpoint's own folder (any other name gets a new folder)."""
    in_place = bool(resume) and os.path.abspath(os.path.join(output_base, exp_name)) == \
        os.path.abspath(os.path.dirname(resume))
    path = get_outdir(output_base, exp_name, inc=not in_place)
    return RunFolder(path, resume if in_place else '', summary_columns)
