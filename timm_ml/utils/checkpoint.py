""" Checkpoint helpers: the multi-label config rides in timm's CheckpointSaver through its task hook."""
import argparse
import os
from typing import Any, Dict

import torch
from timm.utils import get_state_dict, unwrap_model

ML_CONFIG_KEY = 'ml_config'


class CheckpointContent:
    """ The `task` object timm's CheckpointSaver asks for model state: adds the multi-label config (classes, head,
    data config, thresholds) to every checkpoint so validate.py / infer.py need no model flags.

    Args:
        model: The training model (possibly DDP-wrapped). model_ema: EMA wrapper or None. ml_config: dict to store.
    """

    def __init__(self, model, model_ema, ml_config: Dict[str, Any]):
        self.model = model
        self.model_ema = model_ema
        self.ml_config = ml_config
        self.recovery_updates = None

    def get_checkpoint_state(self, ema: bool = False, unwrap_fn=unwrap_model):
        if ema:
            return {} if self.model_ema is None else {'state_dict_ema': get_state_dict(self.model_ema, unwrap_fn)}
        state = {'state_dict': get_state_dict(self.model, unwrap_fn), ML_CONFIG_KEY: self.ml_config}
        if self.recovery_updates:
            state['recovery_updates'] = self.recovery_updates
        return state


def load_checkpoint_file(path: str) -> Dict[str, Any]:
    """torch.load with weights_only=True (argparse.Namespace allowed for timm's saved args)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint not found: {path}')
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, map_location='cpu', weights_only=True)


def save_checkpoint_atomic(state: Dict[str, Any], path: str):
    """Write to a temp file in the same folder, then rename over `path`."""
    tmp = path + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_model_from_checkpoint(path: str, use_ema: bool = True):
    """(model, ml_config, checkpoint) rebuilt from a timm_ml checkpoint alone; EMA weights preferred if present."""
    from timm_ml.models import create_model_from_config
    checkpoint = load_checkpoint_file(path)
    config = checkpoint.get(ML_CONFIG_KEY)
    if config is None:
        raise ValueError(f'{path} is not a timm_ml checkpoint (no {ML_CONFIG_KEY!r} entry); '
                         'use --pretrained-path / --initial-checkpoint to load plain timm weights as a backbone.')
    model = create_model_from_config(config)
    key = 'state_dict_ema' if use_ema and 'state_dict_ema' in checkpoint else 'state_dict'
    state_dict = {k[7:] if k.startswith('module.') else k: v for k, v in checkpoint[key].items()}
    model.load_state_dict(state_dict)
    return model, config, checkpoint


def save_recovery(saver, epoch: int, update_idx: int):
    """timm's recovery checkpoint, recording how many updates of `epoch` it holds so --resume continues after them."""
    saver.task.recovery_updates = update_idx + 1
    try:
        saver.save_recovery(epoch, batch_idx=update_idx)
    finally:
        saver.task.recovery_updates = None


def resume_position(path: str, resume_epoch):
    """(epoch to start, updates of it already done): timm resumes at the next epoch; a recovery checkpoint saved
    mid-epoch resumes inside its own epoch instead."""
    checkpoint = load_checkpoint_file(path)
    updates = checkpoint.get('recovery_updates')
    if updates:
        return checkpoint['epoch'], int(updates)
    return resume_epoch, 0


def load_initial_checkpoint(model, path: str) -> int:
    """ --initial-checkpoint: a timm_ml checkpoint loads into the whole model, a plain timm / torchvision state dict
    into the backbone; tensors whose name or shape does not fit (e.g. another class count's head or the ImageNet
    classifier) keep their initialisation. Returns the number of tensors loaded; none fitting is an error."""
    checkpoint = load_checkpoint_file(path)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    target = model if any(k.startswith('backbone.') for k in state) else model.backbone.model
    own = target.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise ValueError(f'No tensor of {path} fits {type(target).__name__}: wrong architecture?')
    target.load_state_dict(fitting, strict=False)
    return len(fitting)
