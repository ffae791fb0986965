""" Checkpoint files: safe loading (weights_only), atomic writes, and timm's CheckpointSaver made safe to resume.

Nothing read from a checkpoint is trusted as a path: the saver history a checkpoint carries is confined to its run
folder (entries naming another place are dropped with a warning, never joined and later deleted).
"""
import argparse
import errno
import logging
import math
import os
import pickle
import re
from typing import Any, Dict, Optional

import torch
from timm.models import is_model
from timm.utils import CheckpointSaver
from timm.utils.checkpoint_saver import load_checkpoint_metadata

from .faults import fault_point
from .outside import OutsideValueError, check_names, check_probabilities
from .writer import size_limit_reached, write_file

ML_CONFIG_KEY = 'ml_config'
_logger = logging.getLogger(__name__)
_HISTORY_NAME = re.compile(r'^checkpoint-\d+\.pth\.tar$')


class CheckpointError(ValueError):
    """A checkpoint file that cannot or must not be loaded; the message names the file."""


def load_checkpoint_file(path: str) -> Dict[str, Any]:
    """torch.load with weights_only=True (argparse.Namespace allowed for timm's saved args)."""
    if not os.path.isfile(path):
        raise CheckpointError(f'Checkpoint not found: {path}')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'Checkpoint {path} is empty (0 bytes): an interrupted copy or save?')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        if 'Unsupported global' in str(e) or 'GLOBAL ' in str(e):
            found = re.search(r'GLOBAL ([\w.]+)', str(e))
            raise CheckpointError(
                f'Refused to load {path}: it holds Python objects ({found.group(1) if found else "not tensors"}) that '
                'could run code when unpickled. Load only checkpoints written by timm / timm_ml, or re-save the '
                'weights alone (a state_dict of tensors) from a trusted copy.') from None
        raise CheckpointError(f'Cannot read checkpoint {path}: truncated or not a torch file') from None
    except Exception as e:  # noqa: BLE001 - whatever torch raises on a file that is not a checkpoint
        first = (str(e).splitlines() or [''])[0][:120]
        raise CheckpointError(f'Cannot read checkpoint {path}: truncated or not a torch file '
                              f'({type(e).__name__}: {first})') from None


def check_training_checkpoint(path: str) -> Dict[str, Any]:
    """--resume: the file must be a training checkpoint (a dict with a state_dict of tensors), read safely and named
    in the error otherwise, before timm's resume reads it."""
    checkpoint = load_checkpoint_file(path)
    state = checkpoint.get('state_dict', checkpoint.get('model')) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(hasattr(v, 'shape') for v in state.values()):
        raise CheckpointError(f'--resume {path}: not a training checkpoint (no state_dict of tensors); --resume takes '
                              'last.pth.tar / checkpoint-<N>.pth.tar / recovery-*.pth.tar of a run, '
                              '--initial-checkpoint starts from weights alone.')
    return checkpoint


def read_ml_config(checkpoint: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The multi-label config of a checkpoint: in timm's task state, or top-level in older timm_ml checkpoints."""
    if not isinstance(checkpoint, dict):
        return None
    task_state = checkpoint.get('task_state')
    config = (task_state.get(ML_CONFIG_KEY) if isinstance(task_state, dict) else None) or checkpoint.get(ML_CONFIG_KEY)
    return config if isinstance(config, dict) else None


def check_ml_config(config: Dict[str, Any], path: str) -> Dict[str, Any]:
    """The fields every rebuild reads, present and of their type; a damaged config is named, not a KeyError."""
    classes = config.get('classes')
    if not (isinstance(config.get('model'), str) and isinstance(config.get('ml_head'), str)
            and isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise CheckpointError(f'{path}: its {ML_CONFIG_KEY!r} entry is damaged (model, ml_head and a list of class '
                              'names are needed to rebuild the model)')
    try:  # values from a file: checked where they enter, never passed on (validate, infer, exports, config.json)
        check_names(classes, None, 'class names', path)
        if config.get('thresholds') is not None:
            config = dict(config, thresholds=check_probabilities(config['thresholds'], len(classes), 'thresholds',
                                                                 path).tolist())
        _check_model_args(config, path)
        if config.get('data_config'):
            config = dict(config, data_config=check_data_config(config['data_config'], path))
    except OutsideValueError as e:
        raise CheckpointError(str(e)) from None
    return config


# timm.create_model arguments that open a file or the network: never taken from a checkpoint
_OPENING_WORDS = ('path', 'file', 'url', 'dir', 'pretrained', 'checkpoint', 'cache', 'hub')
INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos', 'random')
CROP_MODES = ('center', 'squash', 'border')


def _check_model_args(config: Dict[str, Any], path: str):
    """The model a checkpoint names must be a timm model of this install (no hub or folder prefix: rebuilding it must
    not open the network or a file), and its stored model / head arguments plain values that open nothing."""
    name = config['model']
    if not is_model(name):
        raise OutsideValueError(f'{path}: its model {name!r} is not a timm model of this install (timm '
                                f'{__import__("timm").__version__}); a checkpoint cannot name a hub or folder model')
    for field in ('timm_kwargs', 'head_args'):
        values = config.get(field) or {}
        if not isinstance(values, dict):
            raise OutsideValueError(f'{path}: its {field} is not a mapping')
        for key, value in values.items():
            if not isinstance(key, str) or any(w in key.lower() for w in _OPENING_WORDS) or \
                    not isinstance(value, (int, float, str, bool, type(None))) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                raise OutsideValueError(f'{path}: its {field} holds {key!r}: {value!r}, which a model is not rebuilt '
                                        'with from a file (plain sizes, rates and names only)')


def check_data_config(data_config: Dict[str, Any], path: str) -> Dict[str, Any]:
    """A checkpoint's preprocessing, checked where it enters (validate, infer, exports and the model card read it):
    input size, mean and std (finite, std > 0, one per channel), interpolation and crop of timm's known values."""
    def bad(what):
        return OutsideValueError(f'{path}: its preprocessing (data_config) {what}; the file was edited or damaged')
    if not isinstance(data_config, dict):
        raise bad('is not a mapping')
    size = data_config.get('input_size')
    if not (isinstance(size, (list, tuple)) and len(size) == 3 and all(isinstance(v, int) and 0 < v <= 16384
                                                                      for v in size)):
        raise bad(f'input_size {size!r} is not (channels, height, width)')
    for key in ('mean', 'std'):
        values = data_config.get(key)
        if not (isinstance(values, (list, tuple)) and len(values) == size[0] and
                all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
            raise bad(f'{key} {values!r} is not {size[0]} finite numbers')
    if any(v <= 0 for v in data_config['std']):
        raise bad(f'std {data_config["std"]!r} has a value <= 0 (inputs are divided by it)')
    if data_config.get('interpolation', 'bilinear') not in INTERPOLATIONS:
        raise bad(f'interpolation {data_config.get("interpolation")!r} is none of {", ".join(INTERPOLATIONS)}')
    crop = data_config.get('crop_pct', 1.0)
    if not (isinstance(crop, (int, float)) and not isinstance(crop, bool) and math.isfinite(crop) and 0 < crop <= 4):
        raise bad(f'crop_pct {crop!r} is not a number in (0, 4]')
    if data_config.get('crop_mode', 'center') not in CROP_MODES:
        raise bad(f'crop_mode {data_config.get("crop_mode")!r} is none of {", ".join(CROP_MODES)}')
    return data_config


def _is_disk_full(e: Exception) -> bool:
    # torch.save reports a short write as "unexpected pos N vs M" from its zip writer
    return (isinstance(e, OSError) and e.errno == errno.ENOSPC) or 'No space left' in str(e) or \
        'unexpected pos' in str(e)


def _save_or_clean_up(save_fn, tmp: str, final: str):
    """Run save_fn() writing `tmp`; on failure remove the partial temp file, and name a full disk as such."""
    try:
        save_fn()
    except (OSError, RuntimeError) as e:
        limited = size_limit_reached(tmp)
        if os.path.exists(tmp):
            os.remove(tmp)
        if limited or (isinstance(e, OSError) and e.errno == errno.EFBIG):
            raise OSError(errno.EFBIG, f'The file-size limit (ulimit -f) was reached while writing '
                                       f'{os.path.basename(final)} in {os.path.dirname(os.path.abspath(final))}; the '
                                       'partial file was removed, earlier checkpoints are intact') from e
        if _is_disk_full(e):
            raise OSError(errno.ENOSPC, f'No space left on the device holding {os.path.dirname(os.path.abspath(final))}'
                                        f' while writing {os.path.basename(final)}; the partial file was removed, '
                                        'earlier checkpoints are intact') from e
        raise


def save_checkpoint_atomic(state: Dict[str, Any], path: str, flag: str = 'checkpoint'):
    """A checkpoint written whole by the one output writer (a temp file, then renamed; never through a symlink, never
    over a file that is not a timm_ml checkpoint); a full disk or a file-size limit is named as such."""
    def write(tmp):
        _save_or_clean_up(lambda: torch.save(state, tmp), tmp, path)
    write_file(path, write, flag, kinds=('checkpoint',))


class MultiLabelCheckpointSaver(CheckpointSaver):
    """ timm's CheckpointSaver (temp file, rename, hard links, ranked history), plus:
    - failed writes leave no partial file and name a full disk as such instead of torch's 'unexpected pos ...';
    - the history restored on --resume is confined to the run folder (`checkpoint-<N>.pth.tar` names only);
    - `model_best` is repaired on resume when the run was killed between `last` and the best link;
    - each write step is a named fault point (timm_ml.utils.faults) for the fault-injection tests;
    - `run_state` (any object with state_dict() and checkpoint_saved(epoch)): its state rides in the saver's own state
      (checkpoint['saver']['run']), and it is told when an epoch's checkpoint is written.

    Args:
        run_state: The run's state keeper (timm_ml.cli.run_folder.RunFolder), or None.
        kwargs: timm's CheckpointSaver arguments.
    """

    def __init__(self, *args, run_state=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.run_state = run_state

    def state_dict(self, epoch=None, metric=None):
        state = super().state_dict(epoch, metric)
        if self.run_state is not None:
            state['run'] = self.run_state.state_dict()
        return state

    def save_checkpoint(self, epoch, metric=None):
        result = super().save_checkpoint(epoch, metric)
        if self.run_state is not None:
            self.run_state.checkpoint_saved(epoch)
        return result

    def _save(self, save_path, epoch, metric=None):
        if os.path.islink(save_path):  # placed in the run folder by someone else: never written through
            raise CheckpointError(f'{save_path} is a symbolic link; a checkpoint is never written through one. Remove '
                                  'it (the run folder holds only files of this run).')
        _save_or_clean_up(lambda: super(MultiLabelCheckpointSaver, self)._save(save_path, epoch, metric), save_path,
                          save_path)
        fault_point('recovery_written' if os.path.basename(save_path).startswith('recovery') else 'checkpoint_written')

    def _replace(self, src, dst):
        super()._replace(src, dst)
        fault_point('last_renamed' if os.path.basename(dst).startswith('last') else 'recovery_renamed')

    def _duplicate(self, src, dst):
        super()._duplicate(src, dst)
        fault_point('best_linked' if os.path.basename(dst).startswith('model_best') else 'epoch_linked')

    def _cleanup_checkpoints(self, trim=0):
        fault_point('history_cleanup')
        super()._cleanup_checkpoints(trim)

    repaired = False  # set when a resume relinked what an interrupted epoch end left out

    def load_state_dict(self, state_dict):
        history = []
        for entry in state_dict.get('checkpoint_files', []):
            name = entry[0] if isinstance(entry, (list, tuple)) and entry else None
            if isinstance(name, str) and _HISTORY_NAME.fullmatch(name):
                history.append(tuple(entry))
            else:
                _logger.warning(f'Ignoring checkpoint history entry {name!r}: not a checkpoint-<N>.pth.tar file of '
                                f'this run folder (a checkpoint never names files elsewhere).')
        super().load_state_dict(dict(state_dict, checkpoint_files=history))
        pending = state_dict.get('pending', (None, None))
        pending = tuple(pending) if isinstance(pending, (list, tuple)) and len(pending) == 2 else (None, None)
        self._repair_history(pending)
        self._repair_best(pending)

    def _last_epoch(self):
        last = os.path.join(self.checkpoint_dir, 'last' + self.extension)
        if not os.path.isfile(last):
            return None
        try:
            return load_checkpoint_metadata(last).get('epoch')
        except Exception:  # noqa: BLE001 - an unreadable last cannot repair anything
            return None

    def _repair_history(self, pending):
        """A kill between writing `last` and linking `checkpoint-<epoch>` leaves that epoch out of the history it had
        earned: link it now, by the rule save_checkpoint would have applied."""
        epoch, metric = pending
        if epoch is None or os.path.exists(self._checkpoint_path(epoch)) or self._last_epoch() != epoch:
            return
        worst = self.checkpoint_files[-1] if self.checkpoint_files else None
        if len(self.checkpoint_files) < self.max_history or worst[1] is None or (
                metric is not None and self.cmp(metric, worst[1])):
            if len(self.checkpoint_files) >= self.max_history:
                self._cleanup_checkpoints(1)
            _logger.warning(f'checkpoint-{epoch}{self.extension} was not linked (the run was interrupted after '
                            'writing last): linking it now.')
            save_path = self._checkpoint_path(epoch)
            self._duplicate(os.path.join(self.checkpoint_dir, 'last' + self.extension), save_path)
            self._track_checkpoint(save_path, epoch, metric, update_best_file=False)
            self.repaired = True

    def _repair_best(self, pending):
        """A kill between writing `last` and linking `model_best` leaves model_best older than the best epoch: make
        model_best the last checkpoint again when that epoch is the best one."""
        epoch, metric = pending
        if epoch is None or metric is None:
            return
        if self.best_metric is None or self.cmp(metric, self.best_metric) or self.best_epoch == epoch:
            self.best_metric, self.best_epoch = metric, epoch
            last = os.path.join(self.checkpoint_dir, 'last' + self.extension)
            best = os.path.join(self.checkpoint_dir, 'model_best' + self.extension)
            best_epoch = None
            if os.path.isfile(best):
                try:
                    best_epoch = load_checkpoint_metadata(best).get('epoch')
                except Exception:  # noqa: BLE001 - a broken model_best is replaced below
                    best_epoch = None
            if best_epoch != epoch and self._last_epoch() == epoch:
                _logger.warning(f'model_best{self.extension} held epoch {best_epoch}, the best epoch is {epoch}: '
                                'relinking it to last (the run was interrupted while linking it).')
                self._duplicate(last, best)
                self.repaired = True

    def save_last(self, epoch: int) -> str:
        """Write last.pth.tar only (no ranking): the trained epoch survives a failure of its evaluation."""
        tmp = os.path.join(self.checkpoint_dir, 'tmp' + self.extension)
        last = os.path.join(self.checkpoint_dir, 'last' + self.extension)
        self._save(tmp, epoch)
        self._replace(tmp, last)
        return last
