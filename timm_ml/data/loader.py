""" Evaluation loader from a checkpoint's data config (timm's create_loader, no augmentation)."""
from timm.data import create_loader


def create_eval_loader(dataset, data_config, batch_size, workers=2, distributed=False, device='cpu', pin_memory=False):
    """timm create_loader for evaluation; distributed uses timm's OrderedDistributedSampler (padding trimmed by
    timm.task.evaluation_sample_limit)."""
    return create_loader(
        dataset,
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
        device=device,
        use_prefetcher=False,
        persistent_workers=False,
    )
