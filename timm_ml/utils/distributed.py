""" Distributed helpers train.py adds to timm's: a process-group timeout, and agreeing on a stop request."""
import datetime
from contextlib import contextmanager

import torch
import torch.distributed as dist


@contextmanager
def process_group_timeout(minutes):
    """While timm's init_distributed_device runs, create the process group with `minutes` as its timeout (timm's
    helper takes none); torch's own default otherwise."""
    if not minutes:
        yield
        return
    init = dist.init_process_group

    def init_with_timeout(*args, **kwargs):
        kwargs.setdefault('timeout', datetime.timedelta(minutes=minutes))
        return init(*args, **kwargs)
    dist.init_process_group = init_with_timeout
    try:
        yield
    finally:
        dist.init_process_group = init


def stop_requested(stop, args, device) -> bool:
    """Whether any rank got SIGTERM / SIGINT (one all-reduce per update under DDP, so every rank stops at the same
    step and the recovery checkpoint is consistent)."""
    flag = stop.requested
    if not args.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=device, dtype=torch.int32)
    dist.all_reduce(t)
    if t.item() and stop.signum is None:
        import signal
        stop.signum = signal.SIGTERM
    return bool(t.item())


def gather_loss_meters(meter, args):
    """[(loss sum, count)] of every rank's running train-loss meter, in rank order (a collective under DDP)."""
    mine = (float(meter.sum), int(meter.count))
    if not args.distributed:
        return [mine]
    out = [None] * args.world_size
    dist.all_gather_object(out, mine)
    return out
