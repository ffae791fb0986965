""" The evaluator at Open Images size: known-entries-only storage and class-sliced DDP scoring give exactly the
dense single-process numbers."""
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import free_port
from timm_ml.metrics import MultiLabelEvaluator
from timm_ml.schema import LabelSchema


def _data(seed, n=60, c=13, unknown=0.8):
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(n, c, generator=g) < 0.2).to(torch.int8)
    target[torch.rand(n, c, generator=g) < unknown] = -1
    logits = torch.round(torch.randn(n, c, generator=g) * 2) / 2 + 2 * target.clamp(min=0)  # ties included
    return logits, target


def _evaluate(logits, target, storage, thresholds=None, batch=7, distributed=False, max_samples=None):
    schema = LabelSchema([f'c{i}' for i in range(logits.shape[1])])
    ev = MultiLabelEvaluator(torch.device('cpu'), schema=schema, thresholds=thresholds, topk=3, storage=storage,
                             max_samples=max_samples)
    for i in range(0, len(logits), batch):
        ev.update(logits[i:i + batch], target[i:i + batch])
    metrics = ev.compute(distributed=distributed)
    return metrics, ev


@settings(deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.floats(0.0, 0.95), st.booleans())
def test_known_entries_only_equal_the_dense_numbers(seed, unknown, with_thresholds):
    logits, target = _data(seed, unknown=unknown)
    thresholds = torch.linspace(0.2, 0.8, logits.shape[1]) if with_thresholds else None
    dense, ev_dense = _evaluate(logits, target, 'dense', thresholds)
    sparse, ev_sparse = _evaluate(logits, target, 'sparse', thresholds)
    assert ev_sparse.mode == 'sparse' and ev_dense.mode == 'dense'
    assert dense.keys() == sparse.keys()
    for k in dense:
        assert dense[k] == pytest.approx(sparse[k], abs=1e-9, nan_ok=True), k
    for a, b in zip(ev_dense.result.per_class, ev_sparse.result.per_class):
        assert a['ap'] == pytest.approx(b['ap'], abs=1e-9, nan_ok=True) and a['unknown'] == b['unknown']


def test_auto_keeps_known_entries_when_most_are_unknown():
    logits, target = _data(0, unknown=0.9)
    _, ev = _evaluate(logits, target, 'auto')
    assert ev.mode == 'sparse' and sum(len(x) for x in ev.sparse['scores']) == int((target >= 0).sum())
    _, ev = _evaluate(*_data(0, unknown=0.1), 'auto')
    assert ev.mode == 'dense'


def _rank_worker(rank, world, port, storage, queue):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    logits, target = _data(3, n=61)
    # the sampler's split: rank r takes rows r, r + world, ...; the last rank pads with a repeat it must not count
    rows = list(range(rank, 61, world))
    padded = rows + rows[-1:] * (len(range(0, 61, world)) - len(rows))
    metrics, ev = _evaluate(logits[padded], target[padded], storage, thresholds=torch.full((13,), 0.6),
                            distributed=True, max_samples=len(rows))
    queue.put((rank, {k: float(v) for k, v in metrics.items()}, [r['ap'] for r in ev.result.per_class]))
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize('storage', ['dense', 'sparse'])
def test_class_sliced_ddp_scoring_equals_one_process(storage):
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank_worker, args=(r, 2, port, storage, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    logits, target = _data(3, n=61)
    single, ev = _evaluate(logits, target, 'dense', thresholds=torch.full((13,), 0.6))
    for _, metrics, aps in results:
        for k in single:
            if k == 'loss':
                continue
            assert metrics[k] == pytest.approx(float(single[k]), abs=1e-6, nan_ok=True), k
        assert np.allclose(aps, [r['ap'] for r in ev.result.per_class], atol=1e-6, equal_nan=True)
