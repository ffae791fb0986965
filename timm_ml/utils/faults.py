""" Fault injection for the tests: `TIMM_ML_FAULT=<point>[:<n>]` kills the process with SIGKILL the n-th time (default
1st) the named point of a write sequence is reached; unset, fault_point() costs one dict lookup.

Points: checkpoint_written, last_renamed, epoch_linked, best_linked, history_cleanup, recovery_written, recovery_renamed,
summary_written, epoch_end (see train.py and utils/checkpoint_io.py).
"""
import os
import signal

_counts = {}


def fault_point(name: str):
    spec = os.environ.get('TIMM_ML_FAULT')
    if not spec:
        return
    point, _, nth = spec.partition(':')
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
