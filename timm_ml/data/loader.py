""" Loaders: timm's create_loader (prefetcher, fast_collate, persistent workers), optionally with our own sampler."""
from typing import Optional

import torch
from timm.data import create_loader
from timm.data.loader import PrefetchLoader


def create_ml_loader(dataset, sampler: Optional[torch.utils.data.Sampler] = None, **kwargs):
    """ timm's `create_loader(dataset, **kwargs)`; with `sampler` (e.g. the balanced sampler) the batches are drawn
    by it, everything else (transforms, collate, worker seeding, prefetcher with GPU normalisation and random
    erasing) staying timm's.

    Args:
        dataset: A map-style dataset (MultiLabelDataset).
        sampler: Sampler replacing timm's (shuffle / DistributedSampler); it handles the DDP split itself.
        kwargs: timm.data.create_loader arguments.
    """
    if hasattr(dataset, 'set_loader_cfg'):  # streams plan their epoch by loader workers before any is started
        dataset.set_loader_cfg(kwargs.get('num_workers', 1))
    loader = create_loader(dataset, **kwargs)
    if sampler is None:
        return loader
    inner = loader.loader if isinstance(loader, PrefetchLoader) else loader
    num_workers = kwargs.get('num_workers', 1)
    replaced = type(inner)(
        inner.dataset,
        batch_size=kwargs['batch_size'],
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=inner.collate_fn,
        pin_memory=kwargs.get('pin_memory', False),
        drop_last=kwargs.get('is_training', False),
        worker_init_fn=inner.worker_init_fn,
        persistent_workers=kwargs.get('persistent_workers', True) and num_workers > 0,
    )
    if isinstance(loader, PrefetchLoader):
        loader.loader = replaced
        return loader
    return replaced


def eval_loader_kwargs(data_config, batch_size: int, workers: int = 2, distributed: bool = False,
                       device='cpu', pin_memory: bool = False, use_prefetcher: bool = True, img_dtype=None):
    """create_loader arguments for evaluation from a (checkpoint's) data config."""
    return dict(
        input_size=tuple(data_config['input_size']),
        batch_size=batch_size,
        is_training=False,
        interpolation=data_config['interpolation'],
        mean=tuple(data_config['mean']),
        std=tuple(data_config['std']),
        num_workers=workers,
        distributed=distributed,
        crop_pct=data_config['crop_pct'],
        crop_mode=data_config.get('crop_mode'),
        pin_memory=pin_memory,
        device=torch.device(device),
        use_prefetcher=use_prefetcher,
        img_dtype=img_dtype or torch.float32,
    )
