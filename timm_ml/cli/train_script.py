""" The multi-label hooks of train.py: timm's train.py calls these where it would call timm's own factories, and at
the few points where a multi-label run needs more (exact resume, signals, non-finite values, early stopping, the run
folder's records). docs/architecture.md lists every hook and the timm line it stands in for.

    args, args_text = _parse_args()          # check_args(args, parser) runs inside
    ...
    ml = prepare(args, parser)               # the labels are read: args.num_classes, args.eval_metric, ...
    model = ml.create_model(args.model, ...)  # timm's create_model arguments
"""
import csv
import io
import json
import logging
import math
import os
from contextlib import suppress
from typing import Optional

import torch
from timm import utils
from timm.task import evaluation_sample_limit

from timm_ml.builder import MLRun, build_ml_run
from timm_ml.data import BadImageError, MultiLabelDataset, eval_loader_kwargs
from timm_ml.eval_loop import run_evaluation
from timm_ml.loss import estimate_and_write_class_prior
from timm_ml.metrics.average_precision import NonFiniteScoresError
from timm_ml.optim import check_resumed_lr, optimizer_settings
from timm_ml.utils.checkpoint_io import check_training_checkpoint, load_checkpoint_file
from timm_ml.utils.distributed import (gather_loss_meters, gather_objects, install_process_group_timeout, reduce_counts,
                                      stop_requested)
from timm_ml.utils.early_stop import EarlyStopping
from timm_ml.utils.escape import spreadsheet_cell
from timm_ml.utils.writer import write_text

from .errors import Interrupted, StopRequest
from .run_folder import open_run_folder
from .run_state import RunState, evaluated_split_name
from .tracking import Trackers
from .train_args import add_ml_args, apply_feature_cache, check_recipe_fits, check_train_args, resolve_eval_metric, train_config  # noqa: F401 (add_ml_args: train.py's hook)

_logger = logging.getLogger('train')


def check_args(args, parser):
    """Before any work (timm's _parse_args): options without a multi-label meaning stop here; the device defaults to
    the CPU without CUDA, where --amp is bfloat16 autocast; --dist-timeout is installed; --resume must be a training
    checkpoint, read safely."""
    check_train_args(args, parser)
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.amp and not args.device.startswith('cuda') and args.amp_dtype == 'float16':
        args.amp_dtype = 'bfloat16'
        _logger.info(f'AMP: no CUDA device, using {args.device} autocast with bfloat16 (float16 autocast is for CUDA '
                     'devices).')
    if args.bce_loss and args.loss is None:
        args.loss = 'bce'
    if args.dist_timeout:
        install_process_group_timeout(args.dist_timeout)
    if args.resume:
        check_training_checkpoint(args.resume)


def prepare(args, parser) -> 'TrainScript':
    """After timm's distributed init: the configs from the command line, the labels read (their classes size the head,
    choose its default and the evaluation columns), and the args timm's script reads filled in from them."""
    is_primary = utils.is_primary(args)
    if args.no_cudnn_benchmark:
        torch.backends.cudnn.benchmark = False
    if args.features:
        apply_feature_cache(args, parser)
    run = build_ml_run(train_config(args), seed=args.seed, rank=args.rank, world_size=args.world_size, log=is_primary)
    if args.num_classes is not None and args.num_classes != run.num_classes:
        parser.error(f'--num-classes {args.num_classes} but {run.train_labels.source} has {run.num_classes} classes')
    args.num_classes = run.num_classes
    if run.val_labels is None:
        args.val_split = ''
    args.eval_metric = resolve_eval_metric(args.eval_metric or run.headline_metric, run.metric_names) \
        if run.val_labels is not None else 'loss'
    return TrainScript(args, run)


class TrainScript:
    """ The hooks, holding the run's multi-label side (MLRun), its run folder and run state.

    Args:
        args: train.py's namespace (the top layer is the one place that reads it). run: build_ml_run's result.
    """

    def __init__(self, args, run: MLRun):
        self.args = args
        self.run = run
        self.is_primary = utils.is_primary(args)
        self.run_state = RunState(
            layout=dict(batch_size=args.batch_size, grad_accum_steps=args.grad_accum_steps, seed=args.seed,
                        world_size=args.world_size, train_samples=None, sampler=args.sampler,
                        sampler_power=args.sampler_power, sampler_cap=args.sampler_cap),
            meaning=dict(threshold=args.threshold, eval_metric=args.eval_metric,
                         val_split=evaluated_split_name(run.val_labels), loss=run.loss_type,
                         loss_settings=run.cfg.loss.settings(), distill=run.cfg.distill.settings()))
        self.run_folder = None
        self.saver = None
        self.trackers = None
        self.evaluator = None
        self.early_stopping = None
        self.stop = None
        self.task = None
        self.start_epoch = 0
        self.epoch = 0
        self.args_text = None
        self._given_optimizer = None
        self._train_dataset = None
        self.filled = None  # per-class counts of teacher-filled targets in the last epoch (--fill-unknown)

    # timm's factories, multi-label
    def create_model(self, model_name, **kwargs):
        model = self.run.create_model(model_name, **kwargs)
        if self.is_primary:
            _logger.info(f'{self.run.ml_head} head on {model_name}: {self.run.scoring.describe()}')
        return model

    def create_dataset(self, name, **kwargs):
        if not kwargs.get('is_training'):  # a stream plans its epoch by the batches that read it
            kwargs['batch_size'] = self.args.validation_batch_size or self.args.batch_size
        dataset = self.run.create_dataset(name, **kwargs)
        if kwargs.get('is_training'):
            self._train_dataset = dataset
            self.run_state.layout['train_samples'] = len(dataset)
        return dataset

    def create_loader(self, dataset, **kwargs):
        return self.run.create_loader(dataset, **kwargs)

    def mixup(self, **kwargs):
        return self.run.mixup(**kwargs)

    def fast_collate_mixup(self, **kwargs):
        return self.run.fast_collate_mixup(**kwargs)

    def create_losses(self, mixup_active: bool):
        return self.run.create_losses(mixup_active)

    @property
    def distills(self) -> bool:
        """A teacher was named: the multi-label distillation task replaces timm's (train.py's --kd-* branch)."""
        return self.run.cfg.distill.active

    def create_task(self, **kwargs):
        self.task = self.run.create_task(**kwargs)
        return self.task

    def _fills(self) -> bool:
        return self.run.cfg.distill.active and self.run.cfg.distill.fill_unknown != 'none'

    def optimizer_kwargs(self, model):
        return self.run.optimizer_kwargs(model, self.args.weight_decay)

    def setup_optimizer(self, optimizer):
        """--gc on the optimizer; its settings as this run's flags made them (a resume must not change them)."""
        self.run.setup_optimizer(optimizer)
        self._given_optimizer = optimizer_settings(optimizer)

    # resume
    def resumed(self, resume_epoch: int, optimizer) -> int:
        """After timm's resume_task_checkpoint: a changed --lr is refused (not replaced by the checkpoint's); the run
        state is read; a recovery checkpoint continues inside its own epoch, with the layout it was saved with."""
        if not self.args.no_resume_opt:
            check_resumed_lr(optimizer, self._given_optimizer)
        self.run_state.load(load_checkpoint_file(self.args.resume))
        self.run_state.check_layout()
        updates = self.run_state.resumed_updates
        if updates:
            resume_epoch -= 1
            if self.is_primary:
                _logger.info(f'Resuming inside epoch {resume_epoch} after {updates} updates.')
        return resume_epoch

    # the run folder
    def get_outdir(self, output_base: str, exp_name: str) -> str:
        """timm's get_outdir: one writer per folder (a lock); --resume continues in place only in the resumed
        checkpoint's own folder, whose summary must have this run's columns and meaning."""
        columns = ['epoch', 'train_loss', 'train_skipped_images'] + (['train_filled'] if self._fills() else []) + \
            (['eval_' + n for n in self.run.metric_names] if self.run.val_labels is not None else []) + ['lr']
        self.run_folder = open_run_folder(output_base, exp_name, self.run_state, resume=self.args.resume,
                                          summary_columns=columns)
        self.trackers = Trackers(self.run_folder.path, tensorboard=self.run.cfg.log_tensorboard)
        return self.run_folder.path

    def create_saver(self, **kwargs):
        """timm's CheckpointSaver, confined to the run folder, carrying the run state."""
        self.saver = self.run_folder.create_saver(**kwargs)
        return self.saver

    def write_args(self, output_dir: str, args_text: str):
        """args.yaml, written once the resume point is checked (resume_at): a refused resume changes nothing."""
        self.args_text = args_text

    def resume_at(self, start_epoch: int, num_epochs: int, updates_per_epoch: int, lr_scheduler):
        """After timm's scheduler set-up: the run's records made to match its start (one summary row per epoch before
        it), args.yaml and a seeded split written, recipe notes logged, early stopping and the signal handlers set."""
        self.start_epoch = start_epoch
        updates = self.run_state.resumed_updates
        if lr_scheduler is not None and updates and self.args.sched_on_updates:
            lr_scheduler.step_update(start_epoch * updates_per_epoch + updates)
        if self.run_folder is not None:
            self.run_folder.check_resume_point(start_epoch)
            self.run_folder.check_epochs_left(start_epoch, num_epochs)
            self.run_folder.reconcile_summary(start_epoch)
            write_text(os.path.join(self.run_folder.path, 'args.yaml'), self.args_text or '', 'run folder', kinds=None)
            write_text(os.path.join(self.run_folder.path, 'data_card.json'), json.dumps(self.run.data_card, indent=1),
                       'run folder', kinds=None)
            self.run_folder.write_split_record(self.run.train_labels, self.run.val_labels)
        check_recipe_fits(self.args, updates_per_epoch, num_epochs, log=self.is_primary)
        if self.args.early_stop_patience > 0:
            self.early_stopping = EarlyStopping(self.args.early_stop_patience, self.args.early_stop_min_delta,
                                                decreasing=self.args.eval_metric == 'loss')
            self.early_stopping.load_state_dict(self.run_state.early_stop)
        self.stop = StopRequest().install()

    # inside an epoch
    def updates_done(self, epoch: int) -> int:
        """Updates of `epoch` a resumed recovery checkpoint holds (0 otherwise)."""
        return self.run_state.resumed_updates if epoch == self.start_epoch else 0

    def batches(self, loader, epoch: int, losses_m, accum_steps: int):
        """ enumerate(loader) for train_one_epoch, seeded so that a resumed run repeats it exactly: the epoch's data
        order and augmentation depend on (seed, epoch) alone, the main process's randomness (mixup, dropout, drop path)
        on (seed, epoch, batch). A resumed recovery checkpoint continues after the updates it holds (streamed data
        starts its readers after them), its epoch's train loss counting them."""
        args = self.args
        self.epoch = epoch
        utils.random_seed(args.seed + epoch, args.rank)
        skip_updates = self.updates_done(epoch)
        skip_batches, first_batch = skip_updates * accum_steps, 0
        if skip_updates:
            recovery = self.run_state.resumed_recovery
            if recovery.get('meters'):
                losses_m.sum, losses_m.count = recovery['meters'][args.rank]
                losses_m.avg = losses_m.sum / max(losses_m.count, 1)
            if recovery.get('filled') and self._fills():
                self.task.fill_counts.copy_(torch.tensor(recovery['filled'][args.rank]))
            if hasattr(loader.dataset, 'set_skip_batches'):
                loader.dataset.set_skip_batches(skip_batches, recovery.get('stream'))
                skip_batches, first_batch = 0, skip_batches
        for batch_idx, batch in enumerate(loader, start=first_batch):
            if batch_idx < skip_batches:  # done before the recovery checkpoint (the same order)
                continue
            utils.random_seed(args.seed + 1000003 * (epoch + 1) + batch_idx, args.rank)
            yield batch_idx, batch
        if self._fills():  # every rank, at the epoch's end
            self.filled = reduce_counts(self.task.take_fill_counts(), args.distributed)

    def loss_value(self, loss, epoch: int, batch_idx: int) -> float:
        """loss.item(); a NaN / inf loss stops the run, naming the step and the last good checkpoint."""
        value = loss.item()
        if not math.isfinite(value):
            last = os.path.join(self.run_folder.path, 'last.pth.tar') if self.run_folder else None
            resume = f'the last good checkpoint is {last}' if last and os.path.isfile(last) else \
                'no checkpoint was written yet'
            raise FloatingPointError(
                f'Loss is {value} at epoch {epoch}, step {batch_idx}: stopping. Lower --lr, add --clip-grad, or check '
                f'the inputs of that step; {resume}.')
        return value

    def step_end(self, saver, epoch: int, update_idx: int, batch_idx: int, loader, losses_m):
        """timm's recovery checkpoint every --recovery-interval updates, recording the updates done, each rank's
        running train loss and streamed positions for an exact resume; SIGTERM / SIGINT (agreed on by every rank) write
        one at this step boundary, then the run exits non-zero."""
        args = self.args
        stopping = self.stop is not None and stop_requested(self.stop, args.distributed, self._device())
        due = args.recovery_interval and (update_idx + 1) % args.recovery_interval == 0
        if not (stopping or due) or (saver is None and not args.distributed):
            return
        stream = getattr(loader.dataset, 'stream_position', None)
        meters = gather_loss_meters(losses_m, args.distributed, args.world_size)
        filled = gather_objects(self.task.fill_counts.tolist(), args.distributed, args.world_size) \
            if self._fills() else None  # the epoch's filled-target counts so far, per rank
        saved = ''
        if saver is not None:
            self.run_state.recovery = dict(updates=update_idx + 1, stream=stream(batch_idx + 1) if stream else None,
                                           meters=[[float(a), int(b)] for a, b in meters], filled=filled)
            try:
                saver.save_recovery(epoch, batch_idx=update_idx)
            finally:
                self.run_state.recovery = None
            saved = saver.curr_recovery_file
        if stopping:
            raise Interrupted(self.stop.signum, saved)

    def _device(self):
        return torch.device(self.args.device)

    # evaluation and the epoch's end
    def validate(self, model, loader, loss_fn, device, amp_autocast=suppress, model_dtype=None, log_suffix=''):
        """The evaluator (masked mAP, CP..OF1, group and tree metrics, gathered once across ranks) over `loader`; a
        failure never loses the trained epoch (last.pth.tar is written first, and named)."""
        if self.evaluator is None:
            self.evaluator = self.task.create_evaluator(criterion=loss_fn, max_samples=evaluation_sample_limit(loader))
        try:
            return run_evaluation(
                model, loader, self.evaluator, device, amp_autocast, channels_last=self.args.channels_last,
                distributed=self.args.distributed, log_interval=self.args.log_interval, log_suffix=log_suffix,
                is_primary=self.is_primary, prefetcher=self.args.prefetcher, model_dtype=model_dtype,
                tta=self.args.tta)
        except Exception as e:
            saved = f'; the trained weights are saved in {self.saver.save_last(self.epoch)}' \
                if self.saver is not None else ''
            raise (type(e) if isinstance(e, (BadImageError, NonFiniteScoresError)) else RuntimeError)(
                f'Evaluation after epoch {self.epoch} failed: {e}{saved}') from e

    def update_summary(self, epoch, train_metrics, eval_metrics, filename=None, lr=None, write_header=False,
                       log_wandb=False):
        """timm's update_summary, with the skipped images counted: the row is held in the run state and written to
        summary.csv once the epoch's checkpoint is (so an interruption between the two loses no row)."""
        train_metrics['skipped_images'] = len(getattr(self._train_dataset, 'skipped', [])) + \
            len(self.run.train_labels.skipped)
        if self.filled is not None:
            train_metrics['filled'] = int(self.filled.sum())
            self._log_filled(epoch)
        self.run_folder.add_summary_row(epoch, train_metrics, eval_metrics, lr, log_wandb=log_wandb)
        self.trackers.log_epoch(epoch, train_metrics, eval_metrics, lr)

    def _log_filled(self, epoch: int):
        counts = self.filled.tolist()
        classes = self.run.schema.classes
        top = sorted(range(len(counts)), key=lambda c: -counts[c])[:10]
        _logger.info(f'Epoch {epoch}: {sum(counts)} unknown targets filled by the teacher '
                     f'({self.run.cfg.distill.fill_unknown}); most in: '
                     + ', '.join(f'{classes[c]} {counts[c]}' for c in top if counts[c]))
        if self.run_folder is not None:
            table = io.StringIO()
            rows = [('class', 'filled_last_epoch'), *zip(map(spreadsheet_cell, classes), counts)]
            csv.writer(table, lineterminator='\n').writerows(rows)
            write_text(os.path.join(self.run_folder.path, 'filled_per_class.csv'), table.getvalue(), 'run folder',
                       kinds=None)

    def epoch_done(self, epoch: int, metric: float, train_loss: Optional[float] = None) -> bool:
        """On every rank, before the epoch's checkpoint: a non-finite metric stops the run (it would rank checkpoints
        arbitrarily), the early-stopping counters go into the checkpoint. True when the run should stop early."""
        if not math.isfinite(metric):
            saved = f'; the weights are saved in {self.saver.save_last(epoch)}' if self.saver is not None else ''
            raise ValueError(
                f'{self.args.eval_metric} is {metric} after epoch {epoch} (train loss {train_loss}): training diverged '
                f'or the metric is undefined on this data; lower --lr or pick another --eval-metric{saved}')
        if self.early_stopping is None:
            return False
        stop = self.early_stopping.step(metric, epoch)
        self.run_state.early_stop = self.early_stopping.state_dict()
        if stop and self.is_primary:
            es = self.early_stopping
            _logger.info(f'Early stopping at epoch {epoch}: {self.args.eval_metric} has not improved by more than '
                         f'{es.min_delta} for {es.patience} epochs (best {es.best:.4f} at epoch {es.best_epoch}).')
        return stop

    def finish(self, eval_model, data_config, device, amp_autocast=suppress, model_dtype=None):
        """After the epochs: CSL's class prior (--estimate-prior), per-class AP for the trackers; a signal during the
        last epoch's records ends the run non-zero, its state saved."""
        args = self.args
        stopped = self.stop is not None and self.stop.requested
        if self.run.cfg.estimate_prior and self.is_primary and not stopped:
            mode = args.input_img_mode or ('RGB' if data_config['input_size'][0] == 3 else 'L')
            loader = self.run.create_loader(MultiLabelDataset(self.run.train_labels, img_mode=mode), **eval_loader_kwargs(
                data_config, args.validation_batch_size or args.batch_size, args.workers, False, device, args.pin_mem,
                args.prefetcher, model_dtype))
            estimate_and_write_class_prior(utils.unwrap_model(eval_model), loader, self.run.train_labels.classes,
                                           self.run_folder.path, device, amp_autocast, prefetcher=args.prefetcher,
                                           stop=self.stop)
        if self.trackers is not None:
            if not stopped:
                self.trackers.log_per_class(self.evaluator.result if self.evaluator is not None else None, self.epoch)
            self.trackers.close()
        if self.stop is not None and self.stop.requested:
            last = os.path.join(self.run_folder.path, 'last.pth.tar') if self.run_folder else ''
            raise Interrupted(self.stop.signum, last)

