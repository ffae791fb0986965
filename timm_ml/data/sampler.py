""" Class-balancing sampler: oversample images that carry rare classes (attribute values), no copies on disk."""
import logging
import math
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Sampler

from timm_ml.config import SamplerConfig

from .targets import POSITIVE, SparseTargets

_logger = logging.getLogger('train')


def rarity_weights(targets: SparseTargets, power: float = 1.0, cap: float = 10.0) -> np.ndarray:
    """ Per-image sampling weight: max over its positive classes of (count of the most frequent class / count of
    that class) ** power, capped at `cap`. Images without a positive get weight 1.

    For attribute data each class is one attribute value, so images with a rare value of any attribute are
    oversampled.
    """
    n = len(targets)
    positives = targets.values == POSITIVE if targets.fill != POSITIVE else None
    if positives is None:
        raise ValueError('rarity_weights expects targets stored around a negative or unknown fill')
    counts = np.bincount(targets.indices[positives], minlength=targets.num_classes).astype(np.float64)
    class_weight = np.where(counts > 0, (counts.max() / np.maximum(counts, 1)) ** power, 1.)
    class_weight = np.minimum(class_weight, cap)
    rows = np.repeat(np.arange(n), np.diff(targets.indptr))
    weights = np.ones(n)
    np.maximum.at(weights, rows[positives], class_weight[targets.indices[positives]])
    return weights


def expected_class_counts(targets: SparseTargets, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Expected positives per class seen in one epoch of len(targets) draws (uniform when weights is None)."""
    n = len(targets)
    p = np.full(n, 1. / n) if weights is None else weights / weights.sum()
    positives = targets.values == POSITIVE
    rows = np.repeat(np.arange(n), np.diff(targets.indptr))
    return np.bincount(targets.indices[positives], weights=p[rows[positives]] * n, minlength=targets.num_classes)


class WeightedEpochSampler(Sampler):
    """ Draws `num_samples` indices with replacement by weight, reseeded per epoch (set_epoch) and rank, so every
    DDP rank draws its own share and a resumed run repeats the same draws.

    Args:
        weights: Per-image weights. num_samples: Draws per epoch over all ranks (default: dataset size).
        seed: Base seed. rank / world_size: DDP position.
    """

    def __init__(self, weights, num_samples: Optional[int] = None, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        total = num_samples or len(self.weights)
        self.num_samples = int(math.ceil(total / world_size))
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + 1000003 * self.epoch + 7919 * self.rank)
        return iter(torch.multinomial(self.weights, self.num_samples, replacement=True, generator=g).tolist())


class EpochPermutationSampler(Sampler):
    """ A uniform shuffle whose order depends on (seed, epoch) alone (set_epoch), as DistributedSampler's does under DDP.
    torch's RandomSampler draws its order from the global RNG when the loader's iterator starts, after the loader has
    drawn its worker base seed there too, and a persistent-worker loader draws that seed only in the first epoch a
    process runs: a run resumed at epoch N would shuffle epoch N differently from the uninterrupted run.

    Args:
        num_samples: Dataset size. seed: Base seed.
    """

    def __init__(self, num_samples: int, seed: int = 0):
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=g).tolist())


def create_train_sampler(cfg: SamplerConfig, dataset, seed: int, distributed: bool = False, rank: int = 0,
                         world_size: int = 1, timm_batches: bool = False, log: bool = True):
    """ The training sampler: the balanced sampler (--sampler balanced); else, on one process, a shuffle seeded by
    (seed, epoch) (exact resume); None where timm's own applies (DistributedSampler / RepeatAugSampler under DDP,
    timm's batch samplers: timm_batches).

    Args:
        cfg: The sampler config. dataset: The training dataset. seed: The run seed.
        distributed, rank, world_size: The DDP position. timm_batches: timm draws the batches itself (--aug-repeats,
            --train-img-sizes, the multi-epochs loader, a fixed number of batches).
    """
    if cfg.sampler != 'balanced':
        if distributed or timm_batches or isinstance(dataset, torch.utils.data.IterableDataset):
            return None
        return EpochPermutationSampler(len(dataset), seed=seed)
    weights = rarity_weights(dataset.targets, power=cfg.sampler_power, cap=cfg.sampler_cap)
    if log:
        _logger.info(f'Balanced sampler: weights {weights.min():.2f}..{weights.max():.2f} '
                     f'(power {cfg.sampler_power}, cap {cfg.sampler_cap}).')
    return WeightedEpochSampler(weights, num_samples=len(dataset), seed=seed, rank=rank, world_size=world_size)
