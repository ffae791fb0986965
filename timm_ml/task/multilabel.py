""" The multi-label training task: timm's MultiLabelClassificationTask plus what is ours."""
import logging
import os
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from timm.task import MultiLabelClassificationTask

from timm_ml.data.label_set import class_difference
from timm_ml.metrics import MultiLabelEvaluator
from timm_ml.models.recipes import scoring_schema
from timm_ml.schema import LabelSchema
from timm_ml.utils.checkpoint_io import ML_CONFIG_KEY

_logger = logging.getLogger(__name__)


class MultiLabelTask(MultiLabelClassificationTask):
    """ timm's multi-label task with unknown (-1) targets.

    Adds: a masked criterion from `timm_ml.loss.create_ml_losses` (unknown entries contribute nothing), the evaluator
    with masked mAP / CP..OF1 / per-class AP / thresholds / group and tree metrics, and checkpoint task state holding
    `ml_config` (classes and schema, head, data config, label-parsing options, thresholds), the recovery position
    inside an epoch (updates done, streamed-data positions) and the epoch's summary row (written into the checkpoint
    before summary.csv, so an interruption between the two loses nothing). Resuming from a checkpoint whose classes
    differ from the data's is an error that spells out the difference.

    Args:
        model: The multi-label model (timm_ml.models.create_ml_model).
        criterion: Training loss (create_ml_loss).
        ml_config: What rebuilds the model and reads its data (stored in every checkpoint).
        eval_criterion: Loss reported on evaluation data (defaults to `criterion`).
        threshold: Probability threshold of the F1 metrics.
        topk: k of the top-k metrics.
        device, dtype, verbose: As timm's tasks.
    """

    def __init__(
            self,
            model: nn.Module,
            criterion: nn.Module,
            ml_config: Dict[str, Any],
            eval_criterion: Optional[nn.Module] = None,
            threshold: float = 0.5,
            topk: int = 3,
            device: Optional[torch.device] = None,
            dtype: Optional[torch.dtype] = None,
            verbose: bool = True,
    ):
        super().__init__(model, criterion=criterion, threshold=threshold, device=device, dtype=dtype, verbose=verbose)
        self.ml_config = ml_config
        self.eval_criterion = eval_criterion.to(self.device) if eval_criterion is not None else self.criterion
        self.topk = topk
        self.recovery_updates = None  # set while a recovery checkpoint is written
        self.recovery_stream = None  # streamed data: each rank-worker's position, set while a recovery is written
        self.recovery_meters = None  # each rank's (loss sum, count) of the epoch so far, set while a recovery is written
        self.resumed_meters = None
        self.summary_row = None  # (epoch, train metrics, eval metrics, lr) of the epoch being checkpointed
        self.resumed_updates = 0  # updates of the resumed epoch already done (from a recovery checkpoint)
        self.resumed_stream = None
        self.resumed_summary_row = None
        self.run_layout = None  # what decides which samples an update holds (train.py sets it; checked on resume)
        self.summary_meaning = None  # what the summary's evaluation columns mean (threshold, split, metric)
        self.resumed_summary_meaning = None
        self.early_stop_state = None  # the early-stopping counters after the last finished epoch
        self.resumed_early_stop = None

    def get_task_state(self, module=None, ema: bool = False) -> Dict[str, Any]:
        state = {ML_CONFIG_KEY: self.ml_config}
        if not ema:
            if self.run_layout is not None:
                state['run_layout'] = dict(self.run_layout)
            if self.summary_meaning is not None:
                state['summary_meaning'] = dict(self.summary_meaning)
            if self.early_stop_state is not None:
                state['early_stop'] = dict(self.early_stop_state)
            if self.recovery_updates:
                state['recovery_updates'] = self.recovery_updates
            if self.recovery_stream is not None:
                state['recovery_stream'] = self.recovery_stream
            if self.recovery_meters is not None:
                state['recovery_meters'] = [[float(a), int(b)] for a, b in self.recovery_meters]
            if self.summary_row is not None:
                epoch, train, evaluation, lr = self.summary_row
                state['summary_row'] = (int(epoch), _plain(train), _plain(evaluation), float(lr))
        return state

    def load_checkpoint_state(self, state_dict, task_state=None, ema: bool = False, strict: bool = True) -> None:
        self._check_classes(task_state)  # before the weights: a class-count mismatch should read as such
        super().load_checkpoint_state(state_dict, task_state, ema=ema, strict=strict)

    def load_task_state(self, state, strict: bool = True, module=None, ema: bool = False) -> None:
        if state and not ema:
            self.resumed_updates = int(state.get('recovery_updates') or 0)
            self.resumed_stream = state.get('recovery_stream')
            self.resumed_meters = state.get('recovery_meters')
            self.resumed_summary_row = state.get('summary_row')
            self.resumed_summary_meaning = state.get('summary_meaning')
            self.resumed_early_stop = state.get('early_stop')
            self._check_layout(state.get('run_layout'))

    def _check_layout(self, saved):
        """A recovery checkpoint holds the first N updates of its epoch; with another batch size, accumulation, seed
        or world size those N updates would be other samples, and the rest of the epoch would repeat or skip some."""
        if not self.resumed_updates or not saved or self.run_layout is None:
            return
        changed = {k: (saved[k], v) for k, v in self.run_layout.items() if k in saved and saved[k] != v}
        if changed:
            said = ', '.join(f'{_LAYOUT_FLAGS.get(k, k)} {a} -> {b}' for k, (a, b) in changed.items())
            raise ValueError(
                f'The recovery checkpoint stopped after {self.resumed_updates} updates of its epoch, made with other '
                f'settings than this run ({said}): the rest of the epoch would not be the samples it has not seen. '
                'Resume with the original settings, or resume from the last epoch checkpoint (last.pth.tar).')

    def _check_classes(self, state):
        if not state or ML_CONFIG_KEY not in state:
            return
        saved = state[ML_CONFIG_KEY]
        for key, flag in (('model', '--model'), ('ml_head', '--ml-head')):
            if saved.get(key) is not None and saved.get(key) != self.ml_config.get(key):
                raise ValueError(
                    f'The checkpoint is a {saved.get("model")} with a {saved.get("ml_head")} head; this run builds '
                    f'{flag} {self.ml_config.get(key)}. --resume continues the same model: drop {flag} (or give '
                    f'{saved.get(key)}), or start a new run from its weights with --initial-checkpoint.')
        difference = class_difference(state[ML_CONFIG_KEY]['classes'], self.ml_config['classes'])
        if difference:
            raise ValueError(
                f'The checkpoint was trained on other classes than this data: {difference}. Its head rows would be '
                'read under the wrong names. Train on the same classes (--class-map with the checkpoint\'s order), or '
                'start from it with --initial-checkpoint, which matches head rows by class name.')

    def create_evaluator(self, **kwargs) -> MultiLabelEvaluator:
        config = self.ml_config
        kwargs.setdefault('criterion', self.eval_criterion)
        return MultiLabelEvaluator(
            device=self.device,
            schema=LabelSchema.from_config(config),
            scoring=scoring_schema(config),
            threshold=self.threshold,
            topk=self.topk,
            **kwargs,
        )


_LAYOUT_FLAGS = dict(batch_size='-b', grad_accum_steps='--grad-accum-steps', seed='--seed', world_size='world size',
                     train_samples='training samples', sampler='--sampler', sampler_power='--sampler-power',
                     sampler_cap='--sampler-cap')
_MEANING_FLAGS = dict(threshold='--threshold', val_split='--val-split (the evaluated labels)',
                      eval_metric='--eval-metric', loss='--loss (train_loss / eval_loss)',
                      loss_settings='the loss options (train_loss / eval_loss)')


def loss_settings(args) -> Dict[str, Any]:
    """The loss options a run was given: another --loss-reduction or gamma writes train_loss / eval_loss on another
    scale."""
    from timm_ml.loss import loss_kwargs
    return {k: v for k, v in sorted(loss_kwargs(args).items()) if v is not None}


def _changed(flag, a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return f'{flag}: ' + ', '.join(f'{k} {a.get(k, "default")} -> {b.get(k, "default")}' for k in keys)
    return f'{flag} {a} -> {b}'


def evaluated_split_name(labels) -> Optional[str]:
    """The evaluated split as a resume compares it: its name and label file's name (a moved data root is the same
    split); streamed splits by name alone (re-sharding or moving the shards changes no label)."""
    if labels is None:
        return None
    if getattr(labels, 'streamed', False):
        return labels.split
    return f'{labels.split} ({os.path.basename(os.path.normpath(labels.source))})'


def check_summary_meaning(saved: Optional[Dict[str, Any]], current: Dict[str, Any], summary: str):
    """Rows a resumed run appends to its folder's summary.csv must mean what the earlier rows mean: a changed
    threshold, evaluated split or best-checkpoint metric would write other numbers under the same column names (and
    rank model_best across them). Returns the message, or None when nothing changed."""
    if not saved:
        return None
    changed = {k: (saved[k], v) for k, v in current.items() if k in saved and saved[k] != v}
    if not changed:
        return None
    said = ', '.join(_changed(_MEANING_FLAGS.get(k, k), a, b) for k, (a, b) in changed.items())
    return (f'{summary}: its rows were evaluated with other settings than this run ({said}); new rows would mean '
            'something else under the same columns. Resume with the original settings, or continue in a new folder '
            '(--experiment <new name>).')


def _plain(metrics):
    """Metrics as plain Python numbers (a checkpoint loads with weights_only: no numpy scalars); integers stay
    integers, so a summary row restored from a checkpoint reads as the one written directly."""
    out = {}
    for k, v in metrics.items():
        if hasattr(v, 'item'):
            v = v.item()
        out[str(k)] = v if isinstance(v, (bool, int)) else float(v) if isinstance(v, float) else v
    return out


def build_ml_config(args, model, data_config, train_labels, val_labels, loss_type: str) -> Dict[str, Any]:
    """The ml_config every checkpoint carries: the model's rebuild config (classes, schema, head, timm options), the
    data config, the loss, and the data record (root, splits as asked, format, label options) that validate.py and
    infer.py default to."""
    from timm_ml.data import data_record
    return dict(
        model.ml_config,
        data_config={k: list(v) if isinstance(v, tuple) else v for k, v in data_config.items()},
        loss=loss_type,
        data=data_record(args, train_labels, val_labels),
    )
