""" Models from checkpoints: a timm_ml checkpoint rebuilt from itself alone (--checkpoint of validate.py / infer.py), and
--initial-checkpoint (head rows matched by class name)."""
import logging
from typing import Any, Dict, Optional

import torch
import torch.nn as nn

from timm_ml.data.label_set import class_difference
from timm_ml.recipes import GROUP_HEADS
from timm_ml.utils.checkpoint_io import ML_CONFIG_KEY, CheckpointError, check_ml_config, load_checkpoint_file, \
    read_ml_config

from .factory import MultiLabelModel, create_model_from_config, timm_model_of

_logger = logging.getLogger(__name__)


def _state_dict_for(model: nn.Module, state_dict: Dict[str, torch.Tensor], config: Dict[str, Any]):
    """Keys of older timm_ml linear checkpoints (backbone.model.* / head.fc.*) mapped onto the stock timm model."""
    if config['ml_head'] not in ('linear',) + GROUP_HEADS or not any(k.startswith('backbone.model.') for k in state_dict):
        return state_dict
    classifier = model.pretrained_cfg.get('classifier', 'fc')
    out = {}
    for k, v in state_dict.items():
        if k.startswith('backbone.model.'):
            out[k[len('backbone.model.'):]] = v
        elif k.startswith('head.fc.'):
            out[f'{classifier}.{k[len("head.fc."):]}'] = v
    return out


def read_checkpoint_config(path: str, checkpoint: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """(checkpoint, ml_config) of a timm_ml checkpoint, its config checked (the fields every rebuild reads)."""
    checkpoint = load_checkpoint_file(path) if checkpoint is None else checkpoint
    config = read_ml_config(checkpoint)
    if config is None:
        raise CheckpointError(f'{path} is not a timm_ml checkpoint (no {ML_CONFIG_KEY!r} entry); '
                              'use --pretrained-path / --initial-checkpoint to load plain timm weights as a backbone.')
    return checkpoint, check_ml_config(config, path)


def load_checkpoint_weights(model: nn.Module, checkpoint: Dict[str, Any], config: Dict[str, Any], path: str,
                            use_ema: bool = True, require_ema: bool = False):
    """ Load a timm_ml checkpoint's weights into the model its config describes; EMA weights preferred if present.

    Args:
        model: create_model_from_config(config). checkpoint / config: read_checkpoint_config's. path: For messages.
        use_ema: Load the EMA weights when present. require_ema: Error without EMA weights.
    """
    has_ema = checkpoint.get('state_dict_ema') is not None
    if require_ema and not has_ema:
        raise CheckpointError(f'--use-ema: {path} holds no EMA weights (trained without --model-ema)')
    key = 'state_dict_ema' if use_ema and has_ema else 'state_dict'
    if not isinstance(checkpoint.get(key), dict):
        raise CheckpointError(f'{path}: its {ML_CONFIG_KEY!r} entry is there but no {key!r} of weights')
    state_dict = {k[7:] if k.startswith('module.') else k: v for k, v in checkpoint[key].items()}
    try:
        model.load_state_dict(_state_dict_for(model, state_dict, config))
    except RuntimeError as e:
        raise CheckpointError(f'{path}: its weights do not fit the model its {ML_CONFIG_KEY!r} describes '
                              f'({str(e).splitlines()[0][:160]}); the file was edited or is damaged') from None
    return model


def load_model_from_checkpoint(path: str, use_ema: bool = True, require_ema: bool = False,
                               timm_kwargs: Optional[Dict[str, Any]] = None):
    """(model, ml_config, checkpoint) rebuilt from a timm_ml checkpoint alone; EMA weights preferred if present.

    Args:
        path: Checkpoint file. use_ema: Load the EMA weights when present. require_ema: Error without EMA weights.
        timm_kwargs: Overrides of the stored timm.create_model arguments (e.g. global_pool).
    """
    checkpoint, config = read_checkpoint_config(path)
    if timm_kwargs:
        config = dict(config, timm_kwargs=dict(config.get('timm_kwargs') or {}, **timm_kwargs))
    model = load_checkpoint_weights(create_model_from_config(config), checkpoint, config, path, use_ema, require_ema)
    return model, config, checkpoint


def _head_rows_by_name(model, state, saved_classes, classes, path):
    """Reorder (and select) the per-class rows of the head tensors of `state` from the checkpoint's class order to
    the model's. Returns the head keys that were remapped."""
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


def load_initial_checkpoint(model, path: str, min_share: float = 0.9) -> int:
    """ --initial-checkpoint: a timm_ml checkpoint loads into the whole model (head rows matched by class name), or
    only its backbone (never its classifier) when it has another --ml-head; a plain timm / torchvision state dict into
    the timm model; tensors whose name or shape does not fit (e.g. the ImageNet classifier) keep their initialisation. Returns the number of tensors loaded; none fitting is an error."""
    checkpoint = load_checkpoint_file(path)
    config = read_ml_config(checkpoint)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if config is not None:
        same_head = config['ml_head'] == model.ml_config['ml_head']
        if same_head:
            state = _state_dict_for(model, state, dict(config, ml_head=model.ml_config['ml_head']))
        else:  # another head: its backbone, as timm's keys, without timm's classifier (trained under the other
            # head's scoring, e.g. a softmax per group)
            if any(k.startswith('backbone.model.') for k in state):
                state = {k[len('backbone.model.'):]: v for k, v in state.items() if k.startswith('backbone.model.')}
            classifiers = _classifier_names(timm_model_of(model))
            state = {k: v for k, v in state.items() if not any(k.startswith(c + '.') for c in classifiers)}
            _logger.info(f'--initial-checkpoint {path}: trained with --ml-head {config["ml_head"]}: its backbone is '
                         f'loaded, the {model.ml_config["ml_head"]} head keeps its initialisation')
        if config['classes'] != model.ml_config['classes'] and same_head:
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
    backbone = [k for k in _backbone_keys(target, own) if not k.endswith('num_batches_tracked')]  # old / ported
    # state dicts (torchvision's own weights) carry no BatchNorm step counters
    fit = sum(k in fitting for k in backbone)
    if fit < min_share * len(backbone):
        raise ValueError(
            f'--initial-checkpoint {path}: only {fit} of the {len(backbone)} backbone tensors of this model match it by '
            f'name and shape (model keys not found, e.g. {[k for k in backbone if k not in fitting][:4]}): a checkpoint '
            'of another architecture would leave the model almost untrained. Give the --model it was trained with, or '
            'convert foreign weights first (python -m timm_ml.models.convert).')
    target.load_state_dict(fitting, strict=False)
    return len(fitting)


def _backbone_keys(model: nn.Module, own) -> list:
    """The state-dict keys outside the classifier / multi-label head."""
    if isinstance(model, MultiLabelModel):
        head = {id(t) for t in list(model.head.parameters()) + list(model.head.buffers())}
        tensors = dict(model.named_parameters())
        tensors.update(model.named_buffers())
        return [k for k in own if k not in tensors or id(tensors[k]) not in head]
    classifiers = _classifier_names(model)
    return [k for k in own if not any(k.startswith(c + '.') for c in classifiers)]


def _classifier_names(model: nn.Module) -> tuple:
    classifiers = (getattr(model, 'pretrained_cfg', None) or {}).get('classifier') or ()
    return (classifiers,) if isinstance(classifiers, str) else tuple(classifiers)
