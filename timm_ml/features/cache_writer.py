""" Writing a feature cache: one pass of a frozen pretrained backbone over each split (timm's eval preprocessing at
the cache's size; optionally augmented views of the training split, timm's training transform seeded per view and
image), its unpooled features (`forward_features`) stored as float16 shards beside the targets, the paths and the
backbone's weights. Resumable: a stopped run's finished shards are kept and a rerun of the same command writes the
rest; a cache of other settings is never mixed into (the settings are compared first).
"""
import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence

import numpy as np
import timm
import torch
from timm.data import create_transform, resolve_data_config
from tqdm import tqdm

from timm_ml.config import LabelsConfig
from timm_ml.data import MultiLabelDataset
from timm_ml.data.feature_cache import (BACKBONE_FILE, FEATURES_FILE, FORMAT, FeatureCacheError, array_digest,
                                        images_digest, state_digest)
from timm_ml.data.label_sets import create_label_sets, data_record, reader_options, read_split
from timm_ml.models import load_pretrained_file
from timm_ml.models.pretrained import quiet_hub
from timm_ml.utils.outputs import GENERATOR, OutputError, own_folder_kind
from timm_ml.utils.writer import write_file, write_text

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureCacheSpec:
    """ What a cache holds.

    Args:
        model: The timm backbone. pretrained_path: Local weights (else pretrained, timm's download).
        img_size: Input size (square). splits: The splits to cache (the first defines the classes).
        views: Augmented views of the first split (timm's training transform, scale 0.5..1, seeded per view).
        shard_size: Images per shard file. batch_size / workers: The extraction loader.
        seed: Seed of the augmented views.
    """
    model: str
    pretrained_path: Optional[str] = None
    pretrained: bool = False
    img_size: int = 224
    splits: Sequence[str] = ('train', 'validation', 'test')
    views: int = 0
    shard_size: int = 1024
    batch_size: int = 64
    workers: int = 2
    seed: int = 0

    def settings(self) -> Dict[str, Any]:
        """What a resumed cache must share with its first run."""
        return dict(model=self.model, img_size=self.img_size, views=self.views, shard_size=self.shard_size,
                    seed=self.seed)


def _backbone(spec: FeatureCacheSpec) -> torch.nn.Module:
    model = timm.create_model(spec.model, num_classes=0)
    if spec.pretrained_path:
        load_pretrained_file(model, spec.pretrained_path, spec.model)
    elif spec.pretrained:
        with quiet_hub():
            model = timm.create_model(spec.model, num_classes=0, pretrained=True)
    else:
        raise ValueError('a feature cache of a random backbone teaches nothing: give --pretrained-path FILE (or '
                         '--pretrained with network access)')
    return model.eval()


def _output_fmt(model) -> str:
    """How forward_features lays out its output (NCHW / NHWC maps, NLC tokens), as timm_ml.models.Backbone reads it:
    the cached shape alone is ambiguous."""
    return str(getattr(model, 'output_fmt', 'NCHW'))


def _check_folder(out: str, info_settings: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The existing cache to resume (same settings), None for a new one; anything else is refused."""
    if os.path.islink(out):
        raise OutputError(f'--out {out}: a symbolic link; a cache is never written through one')
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f'--out {out}: that is a file, not a cache folder; name a new folder')
    if not os.path.isdir(out) or not os.listdir(out):
        return None
    if own_folder_kind(out) != 'features':
        raise OutputError(f'--out {out}: that folder exists and is not a feature cache; name a new folder')
    with open(os.path.join(out, FEATURES_FILE)) as f:
        info = json.load(f)
    different = {k: (info.get(k), v) for k, v in info_settings.items() if info.get(k) != v}
    if different:
        listed = ', '.join(f'{k}: {a} there, {b} now' for k, (a, b) in different.items())
        raise OutputError(f'--out {out}: a cache of other settings ({listed}); name a new folder, or remove this one')
    return info


def write_feature_cache(labels_cfg: LabelsConfig, spec: FeatureCacheSpec, out: str, device: str = 'cpu',
                        log: bool = True) -> Dict[str, Any]:
    """ Write (or finish) the cache of `spec` at `out`. Returns features.json's content.

    Args:
        labels_cfg: How to read the labels (root, label options; train_split: the first of spec.splits).
        spec: The backbone, size, splits and views. out: The cache folder. device: Where the backbone runs.
    """
    splits = list(spec.splits)
    model = _backbone(spec).to(device)
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    data_config = resolve_data_config({'input_size': (3, spec.img_size, spec.img_size)}, model=model)
    data_config = {k: list(v) if isinstance(v, tuple) else v for k, v in data_config.items()}
    train_cfg = LabelsConfig(**{**asdict(labels_cfg), 'train_split': splits[0], 'val_split': None})
    first, _ = create_label_sets(train_cfg, log=log)
    schema = first.schema
    settings = dict(spec.settings(), backbone=state_digest(state), classes=first.classes)
    existing = _check_folder(out, settings)
    os.makedirs(out, exist_ok=True)
    info = existing or dict(writer=GENERATOR, format=FORMAT, **settings, output_fmt=_output_fmt(model),
                            schema=schema.to_dict(),
                            data_config=data_config, labels=data_record(train_cfg, first, None), splits={})
    write_file(os.path.join(out, BACKBONE_FILE), lambda tmp: torch.save(state, tmp), '--out', kinds=('checkpoint',)) \
        if existing is None else None
    write_text(os.path.join(out, FEATURES_FILE), json.dumps(info, indent=1), '--out', kinds=None)
    label_format, options = reader_options(labels_cfg.options(), labels_cfg.bad_images, schema)
    for i, split in enumerate(splits):
        labels = first if i == 0 else read_split(labels_cfg, labels_cfg.root, split, label_format, options, log=log)
        if labels.classes != first.classes:
            raise FeatureCacheError(f'{labels.source}: its classes differ from {first.source}\'s')
        _write_split(model, labels, split, spec, data_config, out, info, device, views=spec.views if i == 0 else 0)
    return info


def _write_split(model, labels, split, spec, data_config, out, info, device, views):
    folder = os.path.join(out, split)
    if os.path.islink(folder) or (os.path.exists(folder) and not os.path.isdir(folder)):
        raise OutputError(f'--out {out}: {folder} is a symbolic link or a file; a cache writes only its own folders')
    os.makedirs(folder, exist_ok=True)
    split_info = info['splits'].setdefault(split, dict(complete=False, done=[]))
    image_root = os.path.abspath(labels.root) if labels.root else ''
    digest = images_digest(image_root, labels.paths)
    if split_info['done'] and split_info.get('images_digest', digest) != digest:
        raise OutputError(f'--out {out}: its {split} features were made from other images (another list, order or '
                          f'image root than {labels.source} now gives); resuming would pair them with the wrong '
                          'labels. Name a new folder, or remove this one.')
    dense = labels.targets.dense()
    targets_digest = array_digest(dense)
    if split_info.get('targets_digest') not in (None, targets_digest):
        _logger.info(f'{split}: the labels changed since the cache was written (same images): targets rewritten, '
                     'features kept')
    split_info.update(images=len(labels), shard_size=spec.shard_size, views=views, source=labels.source,
                      image_root=image_root, images_digest=digest, targets_digest=targets_digest)
    write_file(os.path.join(folder, 'targets.npy'), lambda tmp: np.save(open(tmp, 'wb'), dense),
               '--out', kinds=None)
    write_text(os.path.join(folder, 'paths.json'), json.dumps(labels.paths), '--out', kinds=None)
    eval_transform = create_transform(**data_config, is_training=False)
    train_transform = create_transform(data_config['input_size'], is_training=True, scale=(0.5, 1.0),
                                       mean=data_config['mean'], std=data_config['std'],
                                       interpolation=data_config['interpolation'])
    for view in range(views + 1):
        prefix = 'features' if view == 0 else f'view{view}'
        dataset = MultiLabelDataset(labels, transform=eval_transform if view == 0 else train_transform,
                                    seed=spec.seed if view else None)
        dataset.set_epoch(view)
        n = len(labels)
        todo = [s for s in range(-(-n // spec.shard_size)) if f'{prefix}-{s:05d}' not in split_info['done']]
        bar = tqdm(total=n, desc=f'{split} {prefix}', unit='img', disable=None,
                   initial=(-(-n // spec.shard_size) - len(todo)) * spec.shard_size)
        for shard in todo:
            rows = list(range(shard * spec.shard_size, min(n, (shard + 1) * spec.shard_size)))
            loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, rows), batch_size=spec.batch_size,
                                                 num_workers=spec.workers)
            chunks = []
            with torch.no_grad():
                for images, _ in loader:
                    chunks.append(model.forward_features(images.to(device)).half().cpu().numpy())
                    bar.update(len(images))
            array = np.concatenate(chunks)
            name = f'{prefix}-{shard:05d}'
            write_file(os.path.join(folder, name + '.npy'), lambda tmp: np.save(open(tmp, 'wb'), array), '--out',
                       kinds=None)
            split_info['done'].append(name)
            split_info['feature_shape'] = list(array.shape[1:])
            write_text(os.path.join(out, FEATURES_FILE), json.dumps(info, indent=1), '--out', kinds=None)
        bar.close()
    split_info['complete'] = True
    write_text(os.path.join(out, FEATURES_FILE), json.dumps(info, indent=1), '--out', kinds=None)
    _logger.info(f'{split}: {len(labels)} images{f" x {views + 1} views" if views else ""}, features '
                 f'{tuple(split_info["feature_shape"])} float16 -> {folder}')
