""" Partial-label simulation on fully labelled sets, seeded and deterministic.

    rps:P   each annotation independently becomes unknown (-1) with probability P
    fpc:N   per class keep N random positives and N random negatives (all if fewer), the rest unknown
"""
import numpy as np

from .targets import UNKNOWN, SparseTargets


def parse_partial_spec(spec: str):
    kind, _, value = spec.partition(':')
    try:
        return _parse(kind, value, spec)
    except ValueError as e:
        if str(e).startswith('--simulate-partial'):
            raise
        raise ValueError(f'--simulate-partial {spec!r}: expects rps:P (0 <= P <= 1) or fpc:N (N >= 0)') from None


def _parse(kind, value, spec):
    if kind == 'rps':
        p = float(value)
        if not 0 <= p <= 1:
            raise ValueError(f'--simulate-partial rps:P needs 0 <= P <= 1, got {spec!r}')
        return kind, p
    if kind == 'fpc':
        n = int(value)
        if n < 0:
            raise ValueError(f'--simulate-partial fpc:N needs N >= 0, got {spec!r}')
        return kind, n
    raise ValueError(f'--simulate-partial expects rps:P or fpc:N, got {spec!r}')


def simulate_partial(targets: SparseTargets, spec: str, seed: int = 0, rows_per_chunk: int = 65536) -> SparseTargets:
    """Return new targets with annotations hidden as -1 according to `spec` (rps:P or fpc:N)."""
    kind, value = parse_partial_spec(spec)
    rng = np.random.default_rng(seed)
    n, c = len(targets), targets.num_classes
    if kind == 'rps':
        chunks = []
        for start in range(0, n, rows_per_chunk):
            dense = targets.dense(range(start, min(n, start + rows_per_chunk)))
            dense[rng.random(dense.shape) < value] = UNKNOWN
            chunks.append(dense)
        return SparseTargets.from_dense(np.concatenate(chunks) if chunks else np.zeros((0, c), np.int8))
    dense = targets.dense()
    out = np.full_like(dense, UNKNOWN)
    for k in range(c):
        for v in (1, 0):
            rows = np.flatnonzero(dense[:, k] == v)
            keep = rng.permutation(rows)[:value]
            out[keep, k] = v
    return SparseTargets.from_dense(out)
