""" Reading a feature cache (`python -m timm_ml.features` writes it): per split, a frozen backbone's unpooled features
(`forward_features`, float16, in shards memory-mapped on read) with the split's targets (1 / 0 / -1) and image paths;
optional augmented views of the training split; `features.json` naming the backbone, its preprocessing, the classes
and how the labels were read (so a head trained on the cache joins its backbone and validates on the images).

Layout: `<cache>/features.json`, `<cache>/backbone.pth` (the backbone's weights), `<cache>/<split>/targets.npy`,
`paths.json`, `features-00000.npy` ..., and `view<k>-00000.npy` ... for augmented views.
"""
import json
import os
from dataclasses import replace
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from timm_ml.config import LABEL_OPTIONS, LabelsConfig
from timm_ml.schema import LabelSchema
from timm_ml.utils.outputs import GENERATOR

from .label_set import LabelSet
from .readers import LabelFileError
from .targets import SparseTargets

FEATURES_FILE = 'features.json'
FORMAT = 'timm_ml-features-1'
BACKBONE_FILE = 'backbone.pth'


class FeatureCacheError(LabelFileError):
    """A feature cache that is missing, unfinished, damaged or of another version."""


def read_cache_info(folder: str, need_complete: bool = True) -> Dict[str, Any]:
    """features.json of a cache, checked: our format, and (need_complete) every split finished."""
    path = os.path.join(folder, FEATURES_FILE)
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise FeatureCacheError(f'--features {folder}: no readable {FEATURES_FILE} ({e}); write the cache with '
                                'python -m timm_ml.features') from None
    if not isinstance(info, dict) or info.get('writer') != GENERATOR or info.get('format') != FORMAT:
        raise FeatureCacheError(f'{path}: not a feature cache of this version ({FORMAT})')
    unfinished = [s for s, v in info.get('splits', {}).items() if not v.get('complete')]
    if need_complete and unfinished:
        raise FeatureCacheError(f'{folder}: splits {unfinished} are unfinished (the writer was stopped): run the same '
                                'python -m timm_ml.features command again, it resumes')
    return info


def cache_splits(info: Dict[str, Any]) -> List[str]:
    return list(info.get('splits', {}))


def _split_info(folder: str, info: Dict[str, Any], split: str) -> Dict[str, Any]:
    splits = info.get('splits', {})
    names = [split] + [a for a, b in (('val', 'validation'), ('validation', 'val')) if b == split]
    for name in names:
        if name in splits:
            return dict(splits[name], name=name)
    raise FeatureCacheError(f'{folder}: no split {split!r} in the cache (it holds {list(splits)})')


def cache_label_set(folder: str, split: str) -> LabelSet:
    """A split of the cache as a LabelSet: the cached targets and paths, the image root the cache was read from (the
    paths stay valid for validate.py / infer.py on the images)."""
    info = read_cache_info(folder)
    split_info = _split_info(folder, info, split)
    base = os.path.join(folder, split_info['name'])
    targets = np.load(os.path.join(base, 'targets.npy'))
    with open(os.path.join(base, 'paths.json')) as f:
        paths = json.load(f)
    schema = LabelSchema.from_dict(info['schema'])
    if targets.shape != (len(paths), schema.num_classes) or not np.isin(targets, (-1, 0, 1)).all():
        raise FeatureCacheError(f'{base}: targets.npy does not hold one 1 / 0 / -1 row per image for '
                                f'{schema.num_classes} classes')
    return LabelSet(schema, paths, SparseTargets.from_dense(targets), split_info.get('image_root') or '', [],
                    base, 'features', split_info['name'])


def feature_labels_config(cfg: LabelsConfig) -> LabelsConfig:
    """The labels config of a run on a cache: the data root and label options the cache was read with (what the
    checkpoint records, so validate.py reads the images as the cache did), this run's splits and options."""
    info = read_cache_info(cfg.features)
    saved = info.get('labels') or {}
    options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k in LABEL_OPTIONS}
    return replace(cfg, root=saved.get('root'), dataset='', **options)


class FeatureDataset(torch.utils.data.Dataset):
    """ A split's cached features and targets: (float32 features, target row) per image, the shards memory-mapped.
    With augmented views (training), epoch e reads view e mod views (set_epoch).

    Args:
        folder: The cache. labels: The split's LabelSet (cache_label_set; after --simulate-partial for training).
        is_training: Use the augmented views when the cache has them.
    """

    def __init__(self, folder: str, labels: LabelSet, is_training: bool = False):
        info = read_cache_info(folder)
        self.folder = folder
        self.label_set = labels
        self.targets = labels.targets
        self.split_info = _split_info(folder, info, labels.split)
        self.base = os.path.join(folder, self.split_info['name'])
        self.shard_size = int(self.split_info['shard_size'])
        self.views = int(self.split_info.get('views', 0)) if is_training else 0
        self.output_fmt = info.get('output_fmt', 'NCHW')
        self._epoch = 0
        self._shards: Dict[str, np.ndarray] = {}

    @property
    def classes(self):
        return self.label_set.classes

    def set_epoch(self, epoch: int):
        self._epoch = epoch

    def __len__(self):
        return len(self.label_set)

    def _shard(self, prefix: str, shard: int) -> np.ndarray:
        key = f'{prefix}-{shard:05d}'
        if key not in self._shards:
            self._shards[key] = np.load(os.path.join(self.base, key + '.npy'), mmap_mode='r')
        return self._shards[key]

    def features(self, index: int, view: Optional[int] = None) -> torch.Tensor:
        prefix = 'features' if not view else f'view{view}'
        shard, row = divmod(index, self.shard_size)
        return torch.from_numpy(np.asarray(self._shard(prefix, shard)[row], dtype=np.float32))

    def __getitem__(self, index: int):
        view = (self._epoch % (self.views + 1)) if self.views else 0  # view 0: the clean features
        return self.features(index, view), torch.from_numpy(self.targets.row(index).astype(np.float32))


class FeatureLoader:
    """ Batches of a FeatureDataset the way timm's loader hands them to train.py: on the device when the prefetcher
    is on (timm's PrefetchLoader moves and normalises images; cached features need the move only).

    Args:
        dataset: The FeatureDataset. batch_size, sampler, num_workers, is_training (drop the last partial batch):
            as timm's create_loader. device: Where batches go when use_prefetcher.
    """

    def __init__(self, dataset: FeatureDataset, batch_size: int, sampler=None, num_workers: int = 0,
                 is_training: bool = False, use_prefetcher: bool = False, device=None, pin_memory: bool = False):
        self.dataset = dataset
        self.sampler = sampler
        self.batch_sampler = None
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                                                  num_workers=num_workers, drop_last=is_training,
                                                  pin_memory=pin_memory)
        self.device = torch.device(device) if use_prefetcher and device is not None else None
        self.batch_size = batch_size

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for features, target in self.loader:
            if self.device is not None:
                features = features.to(self.device, non_blocking=True)
                target = target.to(self.device, non_blocking=True)
            yield features, target
