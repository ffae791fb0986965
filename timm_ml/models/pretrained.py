""" --pretrained-path: a local weights file as the backbone of a timm model (the classifier dropped)."""
import logging
import os
import socket
from contextlib import contextmanager
from urllib.parse import urlparse

import huggingface_hub
import torch
import torch.nn as nn
from timm.models import get_pretrained_cfg

from timm_ml.utils.checkpoint_io import load_checkpoint_file

_logger = logging.getLogger(__name__)


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


def pretrained_weights_reachable(model_name: str) -> bool:
    """ Whether timm's pretrained weights of `model_name` can be had: in the local Hugging Face cache, or from a hub
    whose host resolves (offline, the hub retries for half a minute and prints a page of warnings before failing)."""
    try:
        cfg = get_pretrained_cfg(model_name)
    except Exception:  # noqa: BLE001 - an unknown name: timm says so itself
        return True
    hub_id = getattr(cfg, 'hf_hub_id', None) if cfg is not None else None
    if hub_id:
        repo, _, revision = hub_id.partition('@')
        for filename in ('model.safetensors', 'pytorch_model.bin', 'open_clip_pytorch_model.bin'):
            if isinstance(huggingface_hub.try_to_load_from_cache(repo, filename, revision=revision or None), str):
                return True
    if os.environ.get('HF_HUB_OFFLINE', '0').lower() in ('1', 'true', 'yes'):
        return False
    host = urlparse(os.environ.get('HF_ENDPOINT') or 'https://huggingface.co').hostname or 'huggingface.co'
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


@contextmanager
def quiet_hub():
    """The hub's retry warnings kept out of the log while timm fetches weights (a failure is reported once)."""
    hub = logging.getLogger('huggingface_hub')
    level = hub.level
    hub.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub.setLevel(level)
