""" Mixed precision resolution: torch.amp on CUDA, bfloat16 autocast on the CPU."""
from contextlib import suppress
from functools import partial

import torch
from timm.utils import NativeScaler


def resolve_amp(amp: bool, amp_dtype: str, device: torch.device):
    """ (autocast context factory, loss scaler or None, one-line notice or None).

    Args:
        amp: --amp given.
        amp_dtype: 'float16' or 'bfloat16' (CUDA); CPU autocast always uses bfloat16.
        device: Training device.
    """
    if not amp:
        return suppress, None, None
    if device.type == 'cuda':
        dtype = torch.bfloat16 if amp_dtype in ('bfloat16', 'bf16') else torch.float16
        scaler = NativeScaler(device='cuda') if dtype == torch.float16 else None
        return partial(torch.autocast, device_type='cuda', dtype=dtype), scaler, \
            f'AMP: torch.autocast on CUDA with {dtype}' + (' and loss scaling.' if scaler else '.')
    dtype = torch.bfloat16
    notice = f'AMP: no CUDA device, using {device.type} autocast with bfloat16 (float16 autocast is CUDA-only).'
    return partial(torch.autocast, device_type=device.type, dtype=dtype), None, notice
