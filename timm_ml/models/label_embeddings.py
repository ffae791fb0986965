""" Label embeddings for the graph heads: a file of word vectors matched by class name, or none (learned).

Formats:
- `.npy`: a (C, d) array, row c for class c of the training class order.
- text (GloVe / word2vec text format): one `word v1 v2 ... vd` per line (a first `count dim` line is skipped). A class
  takes the vector of its name; a multi-word name ("traffic light", "dark_skin-tone") takes the mean of its words'
  vectors. Matching is exact first, then lower-case.

GloVe (https://nlp.stanford.edu/projects/glove/, e.g. glove.6B.300d.txt) is the usual choice; nothing is downloaded:
pass the file.
"""
import os
import re
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn


class LabelEmbeddingError(ValueError):
    pass


def _words(name: str):
    return [w for w in re.split(r'[\s_\-/]+', name) if w]


def read_label_embeddings(path: str, classes: Sequence[str]) -> np.ndarray:
    """(C, d) float32 embeddings for `classes` from `path`; a clear error names the classes that cannot be matched."""
    if not os.path.isfile(path):
        raise LabelEmbeddingError(f'--label-embeddings {path}: no such file')
    if path.endswith('.npy'):
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2 or array.shape[0] != len(classes):
            raise LabelEmbeddingError(f'{path}: expected a ({len(classes)}, dim) array, one row per class in training '
                                      f'class order, got shape {array.shape}')
        if not np.isfinite(array).all():
            raise LabelEmbeddingError(f'{path}: contains NaN or infinite values')
        return array.astype(np.float32)

    wanted = {c for c in classes} | {w for c in classes for w in _words(c)}
    wanted |= {w.lower() for w in wanted}
    vectors, dim = {}, None
    with open(path, encoding='utf-8', errors='replace') as f:
        for line_num, line in enumerate(f, start=1):
            parts = line.rstrip('\n').rstrip().split(' ')
            if line_num == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header: count dim
            if len(parts) < 2:
                continue
            # a GloVe token may itself contain spaces in some releases: the vector is always the last `dim` fields
            if dim is None:
                dim = len(parts) - 1
            word = ' '.join(parts[:len(parts) - dim])
            if word in wanted and word not in vectors:
                try:
                    vectors[word] = np.asarray(parts[-dim:], dtype=np.float32)
                except ValueError:
                    raise LabelEmbeddingError(f'{path}: line {line_num}: expected a word and {dim} numbers')
    out, missing = [], []
    for name in classes:
        for candidate in (name, name.lower()):
            if candidate in vectors:
                out.append(vectors[candidate])
                break
        else:
            words = [vectors.get(w, vectors.get(w.lower())) for w in _words(name)]
            if words and all(v is not None for v in words):
                out.append(np.mean(words, axis=0))
            else:
                missing.append(name)
    if missing:
        raise LabelEmbeddingError(
            f'{path}: no vector for {len(missing)} of {len(classes)} classes (by name, or every word of the name), '
            f'e.g. {missing[:8]}. Add them to the file, or leave --label-embeddings out to learn the embeddings.')
    return np.stack(out).astype(np.float32)


def learned_embedding_init(num_classes: int, dim: int) -> torch.Tensor:
    """Orthonormal rows (one-hot up to a rotation; near-orthogonal unit rows when C > dim): each class starts with a
    classifier of its own. N(0, 1) rows (norm ~sqrt(dim), shared directions) left ML-GCN at chance for 4 epochs on
    the mosaics where one-hot embeddings train like the linear head (docs/method_notes.md)."""
    weight = torch.empty(num_classes, dim)
    nn.init.orthogonal_(weight)
    return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)


def attach_label_embeddings(module, num_classes: int, dim: int, learned: bool, values=None):
    """`module.label_embeddings`, (C, dim): a parameter when learned (initialised by learned_embedding_init), else a
    buffer holding `values` (zeros until a checkpoint fills them, when rebuilding)."""
    if values is not None:
        values = torch.as_tensor(values, dtype=torch.float32)
        if tuple(values.shape) != (num_classes, dim):
            raise LabelEmbeddingError(f'label embeddings of shape {tuple(values.shape)}, expected ({num_classes}, {dim})')
    if learned:
        module.label_embeddings = nn.Parameter(values.clone() if values is not None else
                                               learned_embedding_init(num_classes, dim))
    else:
        module.register_buffer('label_embeddings', values.clone() if values is not None else
                               torch.zeros(num_classes, dim))
