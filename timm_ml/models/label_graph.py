""" Label co-occurrence graphs from the training labels, for the graph heads (ML-GCN, SSGRL).

P(j | i) is counted over the training entries where label i is positive and label j is known: an unknown (-1) entry
is neither a co-occurrence nor evidence against one, so partial labels do not bias the graph towards 0.
"""
import numpy as np


def conditional_cooccurrence(targets: np.ndarray, chunk_rows: int = 65536) -> np.ndarray:
    """ P(j | i) = #(y_i = 1, y_j = 1) / #(y_i = 1, y_j known), 0 where the denominator is 0; diagonal 0.

    Args:
        targets: (N, C) training targets, 1 / 0 / -1 (unknown), any numeric dtype; or SparseTargets (read in chunks).
        chunk_rows: Rows per matrix product (bounds memory on large label files).
    Returns:
        (C, C) float64 array, row i holding P(. | i).
    """
    dense = targets.dense if hasattr(targets, 'dense') else None
    num_rows = len(targets)
    num_classes = targets.num_classes if dense else targets.shape[1]
    together = np.zeros((num_classes, num_classes))
    positive_known = np.zeros((num_classes, num_classes))
    for start in range(0, num_rows, chunk_rows):
        end = min(start + chunk_rows, num_rows)
        rows = dense(range(start, end)) if dense else targets[start:end]
        positive = (rows == 1).astype(np.float64)
        known = (rows >= 0).astype(np.float64)
        together += positive.T @ positive
        positive_known += positive.T @ known
    prob = np.divide(together, positive_known, out=np.zeros_like(together), where=positive_known > 0)
    np.fill_diagonal(prob, 0.)
    return prob


def gcn_adjacency(cond_prob: np.ndarray, tau: float = 0.4, rho: float = 0.25) -> np.ndarray:
    """ ML-GCN's correlation matrix: binarise P(j | i) at tau, re-weight each node's neighbours to sum to rho, add the
    identity, then normalise symmetrically, D^-1/2 A D^-1/2 with D the row sums.

    Args:
        cond_prob: (C, C) P(j | i) with a zero diagonal (conditional_cooccurrence).
        tau: Binarisation threshold (0.4).
        rho: Total weight of a node's neighbours against 1 for itself (0.25); counters over-smoothing.
    """
    binary = (cond_prob >= tau).astype(np.float64)
    np.fill_diagonal(binary, 0.)
    neighbours = binary.sum(1, keepdims=True)
    adjacency = rho * np.divide(binary, neighbours, out=np.zeros_like(binary), where=neighbours > 0)
    adjacency += np.eye(len(adjacency))
    d = adjacency.sum(1) ** -0.5
    return adjacency * d[:, None] * d[None, :]
