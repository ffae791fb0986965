""" Distributed helpers train.py adds to timm's: a process-group timeout, and agreeing on a stop request."""
import datetime
import signal

import torch
import torch.distributed as dist


def install_process_group_timeout(minutes: float):
    """Create the process group (timm's init_distributed_device) with `minutes` as its timeout: timm's helper takes
    none, torch's default is 30 minutes. Installed once per process, for --dist-timeout."""
    init = dist.init_process_group
    if getattr(init, 'timm_ml_timeout', None) is not None:
        init = init.wrapped

    def init_with_timeout(*args, **kwargs):
        kwargs.setdefault('timeout', datetime.timedelta(minutes=minutes))
        return init(*args, **kwargs)
    init_with_timeout.timm_ml_timeout = minutes
    init_with_timeout.wrapped = init
    dist.init_process_group = init_with_timeout


def stop_requested(stop, distributed: bool, device) -> bool:
    """Whether any rank got SIGTERM / SIGINT (one all-reduce per update under DDP, so every rank stops at the same
    step and the recovery checkpoint is consistent)."""
    flag = stop.requested
    if not distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=device, dtype=torch.int32)
    dist.all_reduce(t)
    if t.item() and stop.signum is None:
        stop.signum = signal.SIGTERM
    return bool(t.item())


def gather_objects(mine, distributed: bool, world_size: int) -> list:
    """[every rank's `mine`] in rank order (a collective under DDP)."""
    if not distributed:
        return [mine]
    out = [None] * world_size
    dist.all_gather_object(out, mine)
    return out


def gather_loss_meters(meter, distributed: bool, world_size: int):
    """[(loss sum, count)] of every rank's running train-loss meter, in rank order (a collective under DDP)."""
    return gather_objects((float(meter.sum), int(meter.count)), distributed, world_size)


def reduce_counts(counts: torch.Tensor, distributed: bool) -> torch.Tensor:
    """The sum of every rank's counts (a collective under DDP), on the CPU."""
    if distributed:
        counts = counts.clone()
        dist.all_reduce(counts)
    return counts.cpu()
