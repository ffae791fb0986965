""" Checkpoint helpers: the multi-label config (`ml_config`) rides in timm's task state; loading is weights_only."""
import argparse
import errno
import logging
import os
import pickle
from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn as nn
from timm.utils import CheckpointSaver

ML_CONFIG_KEY = 'ml_config'
_logger = logging.getLogger(__name__)


def load_checkpoint_file(path: str) -> Dict[str, Any]:
    """torch.load with weights_only=True (argparse.Namespace allowed for timm's saved args)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint not found: {path}')
    if os.path.getsize(path) == 0:
        raise ValueError(f'Checkpoint {path} is empty (0 bytes): an interrupted copy or save?')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        if 'Unsupported global' in str(e):
            raise ValueError(f'Refused to load {path}: it holds objects other than tensors and plain containers, '
                             f'which could run code (torch.load weights_only): {str(e).splitlines()[0]}') from e
        raise ValueError(f'Cannot read checkpoint {path} (truncated or not a torch file?): {e}') from e
    except (EOFError, RuntimeError) as e:
        raise ValueError(f'Cannot read checkpoint {path} (truncated or not a torch file?): {type(e).__name__}: {e}') \
            from e


def read_ml_config(checkpoint: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The multi-label config of a checkpoint: in timm's task state, or top-level in older timm_ml checkpoints."""
    if not isinstance(checkpoint, dict):
        return None
    return (checkpoint.get('task_state') or {}).get(ML_CONFIG_KEY) or checkpoint.get(ML_CONFIG_KEY)


def _is_disk_full(e: Exception) -> bool:
    # torch.save reports a short write as "unexpected pos N vs M" from its zip writer
    return (isinstance(e, OSError) and e.errno == errno.ENOSPC) or 'No space left' in str(e) or \
        'unexpected pos' in str(e)


def _save_or_clean_up(save_fn, tmp: str, final: str):
    """Run save_fn() writing `tmp`; on failure remove the partial temp file, and name a full disk as such."""
    try:
        save_fn()
    except (OSError, RuntimeError) as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if _is_disk_full(e):
            raise OSError(errno.ENOSPC, f'No space left on the device holding {os.path.dirname(os.path.abspath(final))}'
                                        f' while writing {os.path.basename(final)}; the partial file was removed, '
                                        'earlier checkpoints are intact') from e
        raise


def save_checkpoint_atomic(state: Dict[str, Any], path: str):
    """Write to a temp file in the same folder, then rename over `path`; a full disk is named as such."""
    tmp = path + '.tmp'
    _save_or_clean_up(lambda: torch.save(state, tmp), tmp, path)
    os.replace(tmp, path)


class MultiLabelCheckpointSaver(CheckpointSaver):
    """timm's CheckpointSaver (temp file, then rename) whose failed writes leave no partial file and name a full
    disk as such instead of torch's 'unexpected pos ...'."""

    def _save(self, save_path, epoch, metric=None):
        _save_or_clean_up(lambda: super(MultiLabelCheckpointSaver, self)._save(save_path, epoch, metric), save_path,
                          save_path)

    def save_last(self, epoch: int) -> str:
        """Write last.pth.tar only (no ranking): the trained epoch survives a failure of its evaluation."""
        tmp = os.path.join(self.checkpoint_dir, 'tmp' + self.extension)
        last = os.path.join(self.checkpoint_dir, 'last' + self.extension)
        self._save(tmp, epoch)
        self._replace(tmp, last)
        return last


def _state_dict_for(model: nn.Module, state_dict: Dict[str, torch.Tensor], config: Dict[str, Any]):
    """Keys of older timm_ml linear checkpoints (backbone.model.* / head.fc.*) mapped onto the stock timm model."""
    if config['ml_head'] not in ('linear', 'attributes') or not any(k.startswith('backbone.model.') for k in state_dict):
        return state_dict
    classifier = model.pretrained_cfg.get('classifier', 'fc')
    out = {}
    for k, v in state_dict.items():
        if k.startswith('backbone.model.'):
            out[k[len('backbone.model.'):]] = v
        elif k.startswith('head.fc.'):
            out[f'{classifier}.{k[len("head.fc."):]}'] = v
    return out


def load_model_from_checkpoint(path: str, use_ema: bool = True, require_ema: bool = False,
                               timm_kwargs: Optional[Dict[str, Any]] = None):
    """(model, ml_config, checkpoint) rebuilt from a timm_ml checkpoint alone; EMA weights preferred if present.

    Args:
        path: Checkpoint file. use_ema: Load the EMA weights when present. require_ema: Error without EMA weights.
        timm_kwargs: Overrides of the stored timm.create_model arguments (e.g. global_pool).
    """
    from timm_ml.models import create_model_from_config
    checkpoint = load_checkpoint_file(path)
    config = read_ml_config(checkpoint)
    if config is None:
        raise ValueError(f'{path} is not a timm_ml checkpoint (no {ML_CONFIG_KEY!r} entry); '
                         'use --pretrained-path / --initial-checkpoint to load plain timm weights as a backbone.')
    has_ema = checkpoint.get('state_dict_ema') is not None
    if require_ema and not has_ema:
        raise ValueError(f'--use-ema: {path} holds no EMA weights (trained without --model-ema)')
    if timm_kwargs:
        config = dict(config, timm_kwargs=dict(config.get('timm_kwargs') or {}, **timm_kwargs))
    model = create_model_from_config(config)
    key = 'state_dict_ema' if use_ema and has_ema else 'state_dict'
    state_dict = {k[7:] if k.startswith('module.') else k: v for k, v in checkpoint[key].items()}
    model.load_state_dict(_state_dict_for(model, state_dict, config))
    return model, config, checkpoint


def class_difference(saved: Sequence[str], current: Sequence[str]) -> str:
    """'' when both class lists are equal, else a short description of how they differ."""
    saved, current = list(saved), list(current)
    if saved == current:
        return ''
    missing, extra = [c for c in current if c not in set(saved)], [c for c in saved if c not in set(current)]
    if not missing and not extra:
        first = next(i for i, c in enumerate(current) if saved[i] != c)
        return (f'same {len(current)} classes in another order (from position {first}: checkpoint '
                f'{saved[first:first + 3]}, data {current[first:first + 3]})')
    return (f'{len(missing)} classes of the data are not in the checkpoint (e.g. {missing[:5]}), '
            f'{len(extra)} checkpoint classes are not in the data (e.g. {extra[:5]})')


def save_recovery(saver, task, epoch: int, update_idx: int):
    """timm's recovery checkpoint, recording how many updates of `epoch` it holds so --resume continues after them."""
    task.recovery_updates = update_idx + 1
    try:
        saver.save_recovery(epoch, batch_idx=update_idx)
    finally:
        task.recovery_updates = None


def _head_rows_by_name(model, state, saved_classes, classes, path):
    """Reorder (and select) the per-class rows of the head tensors of `state` from the checkpoint's class order to
    the model's. Returns the head keys that were remapped."""
    from timm_ml.models import MultiLabelModel
    if isinstance(model, MultiLabelModel) and model.ml_config['ml_head'] == 'mldecoder':
        raise ValueError(f'--initial-checkpoint {path}: its classes differ from the data\'s '
                         f'({class_difference(saved_classes, classes)}); ML-Decoder group outputs cannot be remapped by '
                         'name. Use a --class-map with the checkpoint\'s class order.')
    if isinstance(model, MultiLabelModel):
        head_keys = [k for k in state if k.startswith('head.')]
    else:
        classifier = model.pretrained_cfg.get('classifier', 'fc')
        head_keys = [k for k in state if k.startswith(classifier + '.')]
    position = {c: i for i, c in enumerate(saved_classes)}
    own = model.state_dict()
    for k in head_keys:
        src = state[k]
        if src.shape[0] != len(saved_classes) or k not in own:
            continue
        dst = own[k].clone()
        for i, c in enumerate(classes):
            if c in position:
                dst[i] = src[position[c]]
        state[k] = dst
    return head_keys


def load_initial_checkpoint(model, path: str) -> int:
    """ --initial-checkpoint: a timm_ml checkpoint loads into the whole model (head rows matched by class name), a
    plain timm / torchvision state dict into the timm model; tensors whose name or shape does not fit (e.g. the
    ImageNet classifier) keep their initialisation. Returns the number of tensors loaded; none fitting is an error."""
    from timm_ml.models import timm_model_of
    checkpoint = load_checkpoint_file(path)
    config = read_ml_config(checkpoint)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if config is not None:
        state = _state_dict_for(model, state, dict(config, ml_head=model.ml_config['ml_head'])) \
            if config['ml_head'] == model.ml_config['ml_head'] else state
        if config['classes'] != model.ml_config['classes']:
            remapped = _head_rows_by_name(model, state, config['classes'], model.ml_config['classes'], path)
            _logger.warning(f'--initial-checkpoint {path}: classes differ from the data\'s '
                            f'({class_difference(config["classes"], model.ml_config["classes"])}); head rows '
                            f'{remapped} matched by class name, classes new to the checkpoint keep their init.')
    own = model.state_dict()
    target = model
    if not any(k in own for k in state):
        target = timm_model_of(model)
        own = target.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise ValueError(f'No tensor of {path} fits {type(target).__name__}: wrong architecture?')
    target.load_state_dict(fitting, strict=False)
    return len(fitting)


def load_pretrained_file(model: nn.Module, path: str, model_name: str, min_share: float = 0.9) -> int:
    """ --pretrained-path: load a local weights file into a timm model without its classifier. Fewer than
    `min_share` of the model's non-classifier tensors matching by name and shape is an error (a file for another
    architecture or naming scheme would otherwise train from scratch); it names the converter and shows unmatched keys.
    Returns the number of tensors loaded."""
    checkpoint = load_checkpoint_file(path)
    state = checkpoint
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    classifiers = model.pretrained_cfg.get('classifier') or ()
    classifiers = (classifiers,) if isinstance(classifiers, str) else tuple(classifiers)
    is_head = lambda k: any(k.startswith(c + '.') for c in classifiers)  # noqa: E731
    own = {k: v for k, v in model.state_dict().items() if not is_head(k)}
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(fitting) < min_share * len(own):
        unmatched = [k for k in state if k not in fitting and not is_head(k)]
        missing = [k for k in own if k not in fitting]
        raise ValueError(
            f'--pretrained-path {path}: only {len(fitting)} of the {len(own)} backbone tensors of {model_name} match it '
            f'by name and shape (file keys not used, e.g. {unmatched[:4]}; model keys not found, e.g. {missing[:4]}). '
            f'Convert foreign weights first: python -m timm_ml.models.convert {path} converted.pth --model {model_name}')
    model.load_state_dict(fitting, strict=False)
    _logger.info(f'Loaded {len(fitting)} of {len(own)} backbone tensors from {path}; the classifier is new.')
    return len(fitting)
