""" build_ml_run: what a training run builds from its config, in one place.

train.py calls timm's factories through the returned `MLRun` with timm's own keyword arguments (`create_model`,
`create_dataset`, `create_loader`, the mixups), plus the multi-label pieces timm has no slot for (losses that know
unknown targets, the task, the optimizer's head groups). The labels are read first: their classes and groups size
the head, choose its default, and define the evaluation columns.
"""
import logging
import os
from dataclasses import fields, replace
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from timm.data import FastCollateMixup, Mixup

from timm_ml.config import CheckpointConfig, LossConfig, TrainConfig
from timm_ml.data import (LabelSet, MultiLabelDataset, PartialLabelFastCollateMixup, PartialLabelMixup,
                          check_per_class, class_difference, create_eval_label_set, create_label_sets,
                          create_ml_dataset, create_ml_loader, create_train_sampler, data_card, data_record,
                          read_class_list)
from timm_ml.data.feature_cache import (check_backbone_file, FeatureDataset, FeatureLoader, feature_labels_config,
                                       read_cache_info)
from timm_ml.loss import create_ml_losses
from timm_ml.metrics import MultiLabelEvaluator, headline_metric, metric_names, read_thresholds
from timm_ml.models import (create_ml_model, head_on_features, create_model_from_config, label_graph_kwargs, load_checkpoint_weights,
                            load_initial_checkpoint, read_checkpoint_config, timm_model_of)
from timm_ml.optim import ml_optimizer_kwargs, setup_gradient_centralization
from timm_ml.recipes import default_head, resolve_head_lr_scale, resolve_loss_type, scoring_for
from timm_ml.schema import LabelSchema
from timm_ml.models.teacher import create_teacher
from timm_ml.task import MultiLabelDistillationTask, MultiLabelFeatureDistillationTask, MultiLabelTask

_logger = logging.getLogger('train')


class MLRun:
    """ A training run's multi-label side: its label sets and everything built from them.

    Args:
        cfg: The run's config. train_labels / val_labels: The label sets (val None: no evaluation split).
        ml_head: The resolved head. seed / rank / world_size: The run seed and DDP position (samplers).
        log: Log what is built (the primary process).
    """

    def __init__(self, cfg: TrainConfig, train_labels: LabelSet, val_labels: Optional[LabelSet], ml_head: str,
                 seed: int = 42, rank: int = 0, world_size: int = 1, log: bool = True):
        self.cfg = cfg
        self.train_labels = train_labels
        self.val_labels = val_labels
        self.ml_head = ml_head
        self.loss_type = resolve_loss_type(cfg.loss.loss, ml_head)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.log = log

    @property
    def schema(self) -> LabelSchema:
        return self.train_labels.schema

    @property
    def scoring(self) -> LabelSchema:
        """The schema the outputs are scored with: one softmax per group for the group heads, else a sigmoid each."""
        return scoring_for(self.schema, self.ml_head)

    @property
    def num_classes(self) -> int:
        return self.schema.num_classes

    @property
    def metric_names(self):
        """The evaluation columns (summary.csv's eval_* columns)."""
        return metric_names(self.schema, self.scoring, self.cfg.eval.topk)

    @property
    def headline_metric(self) -> str:
        return headline_metric(self.scoring)

    def create_model(self, model_name: str, pretrained: bool = False, num_classes: Optional[int] = None,
                     checkpoint_path: Optional[str] = None, pretrained_cfg_overlay: Optional[Dict[str, Any]] = None,
                     scriptable: Optional[bool] = None, **timm_kwargs) -> nn.Module:
        """ timm's create_model(model_name, ...) with the multi-label head: the same keyword arguments.

        Args:
            model_name: Any timm model. pretrained: timm's pretrained weights (network).
            num_classes: Must be the labels' class count when given.
            checkpoint_path: --initial-checkpoint: weights matched to this model (head rows by class name).
            pretrained_cfg_overlay: timm's overlay; its 'file' (--pretrained-path) is read as local backbone weights.
            scriptable: timm's flag (TorchScript-friendly layers).
            timm_kwargs: timm.create_model options (drop_rate, in_chans, global_pool, ...; None values dropped).
        """
        if num_classes is not None and num_classes != self.num_classes:
            raise ValueError(f'--num-classes {num_classes} but {self.train_labels.source} has {self.num_classes} '
                             'classes')
        pretrained_path = (pretrained_cfg_overlay or {}).get('file')
        if self.cfg.labels.features:  # the cache's own backbone, so the trained head joins the features it saw
            info = read_cache_info(self.cfg.labels.features)
            if model_name != info['model'] or pretrained or pretrained_path:
                raise ValueError(f'--features {self.cfg.labels.features} holds {info["model"]} features: train with '
                                 f'--model {info["model"]} and no --pretrained / --pretrained-path (the cache carries '
                                 'its backbone weights)')
            pretrained_path = check_backbone_file(self.cfg.labels.features, info)
        if scriptable is not None:
            timm_kwargs['scriptable'] = scriptable
        timm_kwargs = {k: v for k, v in timm_kwargs.items() if v is not None}
        head = self.cfg.head
        model = create_ml_model(
            model_name, self.schema, self.ml_head, head.head_args(self.ml_head, self.cfg.loss.aam_s),
            pretrained=pretrained, pretrained_path=pretrained_path, timm_kwargs=timm_kwargs,
            **label_graph_kwargs(self.ml_head, self.train_labels, head.label_embeddings, head.label_embed_dim,
                                 head.gcn_tau, log=self.log))
        if checkpoint_path:
            loaded = load_initial_checkpoint(model, checkpoint_path)
            if self.log:
                _logger.info(f'Loaded {loaded} tensors from {checkpoint_path}; the rest keep their initialisation.')
        if self.cfg.labels.features:
            head_on_features(model)
        return model

    def create_dataset(self, name: str, root: Optional[str] = None, split: str = 'validation',
                       is_training: bool = False, batch_size: int = 1, seed: int = 42, repeats: float = 0,
                       input_img_mode: str = 'RGB', **timm_kwargs):
        """ timm's create_dataset(name, root=..., split=..., ...) for the run's label sets: `split` names the train or
        val split the labels were read for (--train-split / --val-split); timm's other arguments (class_map,
        download, input_key, ... ) were taken when the labels were read."""
        labels_cfg = self.cfg.labels
        if split == labels_cfg.train_split:
            labels = self.train_labels
        elif split and split == labels_cfg.val_split and self.val_labels is not None:
            labels = self.val_labels
        else:
            raise ValueError(f'split {split!r}: the labels were read for {labels_cfg.train_split!r} and '
                             f'{labels_cfg.val_split!r}')
        if labels_cfg.features:
            return FeatureDataset(labels_cfg.features, labels, is_training)
        return create_ml_dataset(labels, is_training, input_img_mode=input_img_mode,
                                 bad_images=labels_cfg.bad_images, verify_images=labels_cfg.verify_images,
                                 repeats=repeats, seed=seed, batch_size=batch_size)

    def create_loader(self, dataset, **kwargs):
        """ timm's create_loader(dataset, ...) with the run's training sampler (--sampler; a (seed, epoch) shuffle for
        an exact resume); a training loader must hold one batch."""
        sampler = None
        if kwargs.get('is_training'):
            timm_batches = any(kwargs.get(k) for k in ('num_aug_repeats', 'input_size_choices', 'num_batches',
                                                       'use_multi_epochs_loader'))
            sampler = create_train_sampler(self.cfg.sampler, dataset, self.seed, kwargs.get('distributed', False),
                                           self.rank, self.world_size, timm_batches, log=self.log)
        if isinstance(dataset, FeatureDataset):
            loader = FeatureLoader(dataset, kwargs['batch_size'], sampler, kwargs.get('num_workers', 0),
                                   bool(kwargs.get('is_training')), kwargs.get('use_prefetcher', False),
                                   kwargs.get('device'), kwargs.get('pin_memory', False))
        else:
            loader = create_ml_loader(dataset, sampler=sampler, **kwargs)
        if kwargs.get('is_training') and len(loader) == 0:  # no run that saves its random initialisation as best
            skipped = getattr(dataset, 'skipped', [])
            raise ValueError(
                f'the training set has {len(dataset)} images, fewer than one batch of {kwargs.get("batch_size")}'
                + (f' x {self.world_size} processes' if self.world_size > 1 else '')
                + (f' after skipping {len(skipped)} unreadable images' if skipped else '')
                + ': no optimizer step would run. Lower --batch-size or add images.')
        return loader

    def _mixup_kwargs(self, kwargs):
        if self.loss_type == 'ce':  # the group cross-entropy smooths within each group itself
            kwargs = dict(kwargs, label_smoothing=0.)
        return kwargs

    def mixup(self, **kwargs) -> Mixup:
        """timm's Mixup(**kwargs) for multi-label targets: an entry stays unknown if unknown in either image."""
        return PartialLabelMixup(**self._mixup_kwargs(kwargs))

    def fast_collate_mixup(self, **kwargs) -> FastCollateMixup:
        """timm's FastCollateMixup(**kwargs) (mixing while collating, for the prefetcher) for multi-label targets."""
        return PartialLabelFastCollateMixup(**self._mixup_kwargs(kwargs))

    def create_losses(self, mixup_active: bool = False):
        """(train loss, evaluation loss): masked to known targets, the head's recipe unless --loss."""
        return create_ml_losses(self.cfg.loss, self.loss_type, self.train_labels, self.scoring, mixup_active,
                                log=self.log)

    def ml_config(self, model: nn.Module, data_config: Dict[str, Any]) -> Dict[str, Any]:
        """The ml_config every checkpoint carries: the model's rebuild config (classes, schema, head, timm options), the
        data config, the loss and the data record (root, splits, format, label options) validate.py / infer.py read."""
        return dict(
            model.ml_config,
            data_config={k: list(v) if isinstance(v, tuple) else v for k, v in data_config.items()},
            loss=self.loss_type,
            data=data_record(self.cfg.labels, self.train_labels, self.val_labels),
            data_card=self.data_card,
            distill=self.cfg.distill.settings() or None,
        )

    @property
    def data_card(self) -> Dict[str, Any]:
        """Per split and class, the positive / negative / unknown counts and the declared value meanings."""
        return data_card([('train', self.train_labels), ('val', self.val_labels)])

    def create_task(self, model: nn.Module, criterion: nn.Module, data_config: Dict[str, Any],
                    device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None,
                    verbose: bool = True) -> MultiLabelTask:
        """timm's ClassificationTask(model=..., criterion=..., ...) as the multi-label task of this run; with a teacher
        (--kd-checkpoint / --kd-model-name), the multi-label distillation task of --kd-distill-type."""
        common = dict(criterion=criterion, ml_config=self.ml_config(model, data_config), schema=self.schema,
                      threshold=self.cfg.eval.threshold, topk=self.cfg.eval.topk, device=device, dtype=dtype,
                      verbose=verbose)
        kd = self.cfg.distill
        if not kd.active:
            return MultiLabelTask(model=model, **common)
        teacher = create_teacher(kd, self.scoring, in_chans=data_config['input_size'][0], device=device,
                                 log=self.log)
        if kd.kd_distill_type == 'feature':
            return MultiLabelFeatureDistillationTask(model, teacher=teacher, data_config=data_config,
                                                     distill_loss_weight=kd.distill_loss_weight,
                                                     task_loss_weight=kd.task_loss_weight, **common)
        return MultiLabelDistillationTask(model, teacher=teacher, data_config=data_config,
                                          temperature=kd.kd_temperature, distill_loss_weight=kd.distill_loss_weight,
                                          task_loss_weight=kd.task_loss_weight, fill_unknown=kd.fill_unknown,
                                          **common)

    def optimizer_kwargs(self, model: nn.Module, weight_decay: float) -> Dict[str, Any]:
        """create_optimizer_v2 keyword arguments of the head's learning-rate scale (--head-lr-scale / its recipe)."""
        scale = resolve_head_lr_scale(self.cfg.head.head_lr_scale, self.ml_head)
        return ml_optimizer_kwargs(model, scale, weight_decay, log=self.log)

    def setup_optimizer(self, optimizer):
        """--gc / --gc-conv-only on the created optimizer."""
        return setup_gradient_centralization(optimizer, self.cfg.gc, self.cfg.gc_conv_only, log=self.log)

    def timm_model(self, model: nn.Module) -> nn.Module:
        """The timm model inside (the model itself for timm's classifier heads)."""
        return timm_model_of(model)


class CheckpointRun:
    """ A trained model's multi-label side, from its checkpoint alone (validate.py, infer.py): the model it
    describes, its data read the way its training read them, its evaluation loss and thresholds.

    Args:
        cfg: The checkpoint and the options given on the command line (checked against the checkpoint).
        log: Log what is read.
    """

    def __init__(self, cfg: CheckpointConfig, log: bool = True):
        self.cfg = cfg
        self.log = log
        self.checkpoint, config = read_checkpoint_config(cfg.checkpoint)
        if cfg.timm_kwargs:
            config = dict(config, timm_kwargs=dict(config.get('timm_kwargs') or {}, **cfg.timm_kwargs))
        self.config = config
        self.schema = LabelSchema.from_config(config)  # the one place a checkpoint's schema is read
        self.scoring = scoring_for(self.schema, config['ml_head'])
        self.ml_head = config['ml_head']
        self.loss_type = config.get('loss') or resolve_loss_type(None, self.ml_head)
        self._check_given()
        self.data = dict(config.get('data') or {})
        self.root = cfg.labels.root or self.data.get('root')
        self.split = cfg.labels.val_split or self.data.get('val_split') or 'validation'
        self.labels = None

    @property
    def classes(self):
        return self.config['classes']

    def _check_given(self):
        cfg, config, path = self.cfg, self.config, self.cfg.checkpoint
        if cfg.model and cfg.model != config['model']:
            raise ValueError(f'--model {cfg.model}: {path} holds a {config["model"]} ({config["ml_head"]} head)')
        if cfg.num_classes is not None and cfg.num_classes != len(self.classes):
            raise ValueError(f'--num-classes {cfg.num_classes}: {path} has {len(self.classes)} classes')
        trained = (config.get('data_config') or {}).get('input_size', [3])[0]
        if cfg.in_chans is not None and cfg.in_chans != trained:
            raise ValueError(f'--in-chans / --input-size: {cfg.in_chans} channels, the checkpoint was trained on '
                             f'{trained}')
        if cfg.labels.class_map:
            difference = class_difference(self.classes, read_class_list(cfg.labels.class_map))
            if difference:
                raise ValueError(f'--class-map {cfg.labels.class_map} differs from the classes of {path}: {difference}')

    def create_model(self, model_name: Optional[str] = None, **timm_kwargs) -> nn.Module:
        """ The model the checkpoint describes (timm's create_model(...) arguments are checked, not used: the
        checkpoint decides); its pretrained config is the training data config, so timm's resolve_data_config gives
        the training preprocessing unless a flag overrides it."""
        model = create_model_from_config(self.config)
        data_config = {k: tuple(v) if isinstance(v, list) else v
                       for k, v in (self.config.get('data_config') or {}).items()}
        cfg = {k: v for k, v in dict(model.pretrained_cfg or {}).items() if not k.startswith('test_')}
        model.pretrained_cfg = dict(cfg, **data_config)
        return model

    def load_checkpoint(self, model: nn.Module, path: Optional[str] = None, use_ema: bool = True):
        """timm's load_checkpoint: the checkpoint's weights, EMA preferred when present (unless --no-ema)."""
        return load_checkpoint_weights(model, self.checkpoint, self.config, self.cfg.checkpoint,
                                       use_ema=self.cfg.use_ema, require_ema=self.cfg.require_ema)

    def read_labels(self, split: Optional[str] = None, root: Optional[str] = None, on_bad: str = 'error') -> LabelSet:
        """A split read the way training read its data, holding exactly the checkpoint's classes."""
        labels_cfg = replace(self.cfg.labels, root=root or self.root)
        return create_eval_label_set(labels_cfg, split or self.split, self.config, on_bad=on_bad, log=self.log)

    def create_dataset(self, root: Optional[str] = None, name: Optional[str] = None, split: Optional[str] = None,
                       num_samples: Optional[int] = None, input_img_mode: str = 'RGB', batch_size: int = 1,
                       **timm_kwargs):
        """timm's create_dataset(root=..., name=..., split=...) for this checkpoint: the split (default: the one
        validated during training) read with its training's label options; num_samples: the first N images."""
        labels = self.read_labels(split, root, self.cfg.labels.bad_images)
        if getattr(labels, 'streamed', False):
            self.labels = labels
            return create_ml_dataset(labels, False, input_img_mode=input_img_mode, batch_size=batch_size)
        if num_samples:
            labels = labels.subset(range(min(num_samples, len(labels))))
        self.labels = labels
        return MultiLabelDataset(labels, bad_images=self.cfg.labels.bad_images, img_mode=input_img_mode)

    def create_loader(self, dataset, **kwargs):
        return create_ml_loader(dataset, **kwargs)

    def create_loss(self) -> nn.Module:
        """The evaluation loss of the training recipe (the checkpoint's training options)."""
        trained = self.checkpoint.get('args')
        given = {f.name: getattr(trained, f.name) for f in fields(LossConfig) if hasattr(trained, f.name)}
        _, loss = create_ml_losses(LossConfig(**given), self.loss_type, None, self.scoring, log=False)
        return loss

    def thresholds(self) -> Optional[torch.Tensor]:
        """Per-class thresholds: a --thresholds file, else the checkpoint's, unless a global --threshold is given."""
        if self.cfg.thresholds:
            return torch.as_tensor(read_thresholds(self.cfg.thresholds, self.classes))
        if self.config.get('thresholds') is not None and self.cfg.eval.threshold is None:
            return torch.tensor(check_per_class(self.config['thresholds'], self.classes, 'thresholds',
                                                self.cfg.checkpoint))
        return None

    def create_evaluator(self, device, criterion=None, max_samples=None, **kwargs) -> MultiLabelEvaluator:
        """The evaluator of this model's outputs (kwargs: store_dtype, store_device, storage)."""
        threshold = self.cfg.eval.threshold
        return MultiLabelEvaluator(device, max_samples=max_samples, criterion=criterion, schema=self.schema,
                                   scoring=self.scoring, threshold=0.5 if threshold is None else threshold,
                                   thresholds=self.thresholds(), topk=self.cfg.eval.topk, **kwargs)


def build_ml_run(cfg, seed: int = 42, rank: int = 0, world_size: int = 1, log: bool = True):
    """ What a script builds from its config: a TrainConfig reads the run's labels and resolves what they decide (the
    head: one softmax per exclusive group when the labels have groups, unless --ml-head; its loss) -> MLRun; a
    CheckpointConfig reads a trained model's checkpoint -> CheckpointRun.

    Args:
        cfg: TrainConfig or CheckpointConfig. seed / rank / world_size: The run seed and DDP position (training).
        log: Log what is read.
    """
    if isinstance(cfg, CheckpointConfig):
        return CheckpointRun(cfg, log=log)
    if cfg.labels.features:  # the data root and label options the cache was read with
        cfg = replace(cfg, labels=feature_labels_config(cfg.labels))
    train, val = create_label_sets(cfg.labels, ml_head=cfg.head.ml_head, sampler=cfg.sampler.sampler, log=log)
    ml_head = cfg.head.ml_head
    if ml_head is None:
        ml_head = default_head(train.schema)
        if log and ml_head != 'linear':
            _logger.info(f'Labels with exclusive groups ({train.schema.describe()}): training one softmax per group '
                         f'(--ml-head {ml_head}); --ml-head linear trains every value as a sigmoid.')
    return MLRun(cfg, train, val, ml_head, seed=seed, rank=rank, world_size=world_size, log=log)
