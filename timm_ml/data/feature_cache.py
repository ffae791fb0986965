""" Reading a feature cache (`python -m timm_ml.features` writes it): per split, a frozen backbone's unpooled features
(`forward_features`, float16, in shards memory-mapped on read) with the split's targets (1 / 0 / -1) and image paths;
optional augmented views of the training split; `features.json` naming the backbone, its preprocessing, the classes
and how the labels were read (so a head trained on the cache joins its backbone and validates on the images).

Layout: `<cache>/features.json`, `<cache>/backbone.pth` (the backbone's weights), `<cache>/<split>/targets.npy`,
`paths.json`, `features-00000.npy` ..., and `view<k>-00000.npy` ... for augmented views.
"""
import hashlib
import json
import os
from dataclasses import replace
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from timm_ml.config import LABEL_OPTIONS, LabelsConfig
from timm_ml.schema import LabelSchema
from timm_ml.utils.outputs import GENERATOR
from timm_ml.utils.outside import OutsideValueError, resolve_inside

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
    splits = info.get('splits', {})
    if not isinstance(splits, dict) or not all(isinstance(v, dict) for v in splits.values()):
        raise FeatureCacheError(f'{path}: "splits" is not a mapping of split names to their records (damaged)')
    unfinished = [s for s, v in splits.items() if not v.get('complete')]
    if need_complete and unfinished:
        raise FeatureCacheError(f'{folder}: splits {unfinished} are unfinished (the writer was stopped): run the same '
                                'python -m timm_ml.features command again, it resumes')
    return info


def state_digest(state: Dict[str, torch.Tensor]) -> str:
    """A short digest of a backbone's weights (features.json's `backbone`)."""
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def images_digest(image_root: str, paths: List[str]) -> str:
    """A short digest of a split's image list (which images, in which order, under which root)."""
    return hashlib.sha1(json.dumps([image_root, paths]).encode()).hexdigest()[:16]


def array_digest(array: np.ndarray) -> str:
    """A short digest of an array's values (a split's targets)."""
    return hashlib.sha1(np.ascontiguousarray(array).tobytes() + str(array.shape).encode()).hexdigest()[:16]


def check_backbone_file(folder: str, info: Dict[str, Any]) -> str:
    """The cache's backbone.pth, checked against the digest features.json records (the weights that made the
    features); returns its path."""
    path = os.path.join(folder, BACKBONE_FILE)
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 (any unreadable file is the same error)
        raise FeatureCacheError(f'{path}: unreadable ({type(e).__name__}); write the cache again') from None
    if not isinstance(state, dict) or state_digest(state) != info.get('backbone'):
        raise FeatureCacheError(f'{path}: not the backbone that made these features (its digest differs from '
                                f'{FEATURES_FILE}\'s {info.get("backbone")!r}); a head trained on them would join '
                                'other weights. Write the cache again.')
    return path


def cache_identity(folder: str) -> Dict[str, Any]:
    """What the features of a cache are: backbone digest, size, and each split's images and labels (a search run
    made on another cache at the same path is never reused)."""
    info = read_cache_info(folder)
    return dict(model=info.get('model'), img_size=info.get('img_size'), backbone=info.get('backbone'),
                splits={k: [v.get('images_digest'), v.get('targets_digest'), v.get('images')]
                        for k, v in info['splits'].items()})


def cache_splits(info: Dict[str, Any]) -> List[str]:
    return list(info.get('splits', {}))


def _split_info(folder: str, info: Dict[str, Any], split: str) -> Dict[str, Any]:
    splits = info.get('splits', {})
    names = [split] + [a for a, b in (('val', 'validation'), ('validation', 'val')) if b == split]
    for name in names:
        if name in splits:
            return dict(splits[name], name=name)
    raise FeatureCacheError(f'{folder}: no split {split!r} in the cache (it holds {list(splits)})')


def cache_label_set(folder: str, split: str, allow_outside_root: bool = False) -> LabelSet:
    """ A split of the cache as a LabelSet: the cached targets and paths, the image root the cache was read from (the
    paths stay valid for validate.py / infer.py on the images).

    Args:
        folder: The cache. split: Its split. allow_outside_root: The user's --allow-outside-root (never the file's):
            image paths may be absolute or climb above the image root.
    """
    info = read_cache_info(folder)
    split_info = _split_info(folder, info, split)
    base = os.path.join(folder, split_info['name'])
    try:
        targets = np.load(os.path.join(base, 'targets.npy'), allow_pickle=False)
        with open(os.path.join(base, 'paths.json')) as f:
            paths = json.load(f)
    except (OSError, ValueError) as e:
        raise FeatureCacheError(f'{base}: targets.npy / paths.json unreadable ({e}); write the cache again') from None
    schema = LabelSchema.from_dict(info['schema'])
    if targets.shape != (len(paths), schema.num_classes) or not np.isin(targets, (-1, 0, 1)).all():
        raise FeatureCacheError(f'{base}: targets.npy does not hold one 1 / 0 / -1 row per image for '
                                f'{schema.num_classes} classes')
    image_root = split_info.get('image_root') or ''
    try:
        for i, p in enumerate(paths):
            if not isinstance(p, str):
                raise OutsideValueError(f'{base}/paths.json, entry {i}: not a path')
            resolve_inside(image_root or base, p, f'{base}/paths.json, entry {i}', allow_outside_root,
                           '--allow-outside-root')
    except OutsideValueError as e:
        raise FeatureCacheError(str(e)) from None
    return LabelSet(schema, paths, SparseTargets.from_dense(targets), image_root, [],
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
            self._shards[key] = self._checked_shard(key, shard)
        return self._shards[key]

    def _checked_shard(self, key: str, shard: int) -> np.ndarray:
        """A shard memory-mapped, checked once against features.json: rows, feature shape, float16, finite (a NaN in
        the cache would read as a diverged model)."""
        path = os.path.join(self.base, key + '.npy')
        if os.path.islink(path):
            raise FeatureCacheError(f'{path}: a symbolic link; a cache shard is a file of the cache')
        try:
            array = np.load(path, mmap_mode='r', allow_pickle=False)
        except (OSError, ValueError) as e:
            raise FeatureCacheError(f'{path}: unreadable shard ({e}); run the python -m timm_ml.features command '
                                    'again into a new folder') from None
        rows = min(self.shard_size, len(self.label_set) - shard * self.shard_size)
        shape = tuple(self.split_info.get('feature_shape') or array.shape[1:])
        if array.dtype != np.float16 or array.shape != (rows, *shape):
            raise FeatureCacheError(f'{path}: holds {array.dtype} {tuple(array.shape)}, {FEATURES_FILE} declares '
                                    f'float16 {(rows, *shape)} (damaged or edited); write the cache again')
        if not np.isfinite(array).all():
            raise FeatureCacheError(f'{path}: holds NaN or infinite features (damaged, or the backbone overflowed '
                                    'float16); write the cache again')
        return array

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
