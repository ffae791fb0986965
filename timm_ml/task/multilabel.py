""" The multi-label training task: timm's MultiLabelClassificationTask plus what is ours."""
import logging
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from timm.task import MultiLabelClassificationTask

from timm_ml.data.label_set import class_difference
from timm_ml.metrics import MultiLabelEvaluator
from timm_ml.recipes import scoring_for
from timm_ml.schema import LabelSchema
from timm_ml.utils.checkpoint_io import ML_CONFIG_KEY

_logger = logging.getLogger(__name__)


class MultiLabelTaskState:
    """ What every multi-label task adds to a timm task, whatever its train step: `ml_config` in the checkpoint's task
    state, the refusal to resume a checkpoint of another model or other classes, and the multi-label evaluator.
    Mixed in before a timm task class; `setup_multilabel` is called from the task's __init__."""

    def setup_multilabel(self, ml_config: Dict[str, Any], schema: Optional[LabelSchema], threshold: float,
                         topk: int) -> None:
        self.ml_config = ml_config
        self.schema = schema if schema is not None else LabelSchema.from_config(ml_config)
        self.scoring = scoring_for(self.schema, ml_config['ml_head'])
        self.threshold = threshold
        self.topk = topk

    def prepare_distributed(self, device_ids: Optional[list] = None, **ddp_kwargs) -> 'MultiLabelTaskState':
        """timm's DDP wrapping; on CPU processes (gloo) DDP takes no device ids."""
        if device_ids and all(getattr(d, 'type', 'cuda') == 'cpu' for d in device_ids):
            device_ids = None
        return super().prepare_distributed(device_ids=device_ids, **ddp_kwargs)

    def get_task_state(self, module=None, ema: bool = False) -> Dict[str, Any]:
        return dict(super().get_task_state(module, ema=ema), **{ML_CONFIG_KEY: self.ml_config})

    def load_checkpoint_state(self, state_dict, task_state=None, ema: bool = False, strict: bool = True) -> None:
        self._check_classes(task_state)  # before the weights: a class-count mismatch should read as such
        super().load_checkpoint_state(state_dict, task_state, ema=ema, strict=strict)

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
        kwargs.setdefault('criterion', self.criterion)
        return MultiLabelEvaluator(
            device=self.device,
            schema=self.schema,
            scoring=self.scoring,
            threshold=self.threshold,
            topk=self.topk,
            **kwargs,
        )


class MultiLabelTask(MultiLabelTaskState, MultiLabelClassificationTask):
    """ timm's multi-label task with unknown (-1) targets: the train step only.

    Adds: a masked criterion (unknown entries contribute nothing, `timm_ml.loss.create_ml_losses`), the evaluator with
    masked mAP / CP..OF1 / per-class AP / thresholds / group and tree metrics, `ml_config` in the checkpoint's task state
    (classes and schema, head, data config, label-parsing options, thresholds: what rebuilds the model and reads its
    data), and a refusal to resume a checkpoint trained on other classes, spelling out the difference. What a run
    needs to resume (recovery position, early stopping, summary rows) is the run folder's (timm_ml.cli.run_state).

    Args:
        model: The multi-label model (timm_ml.models.create_ml_model).
        criterion: Training loss (create_ml_losses).
        ml_config: What rebuilds the model and reads its data (stored in every checkpoint).
        schema: The label schema (default: the one ml_config describes).
        threshold: Probability threshold of the F1 metrics.
        topk: k of the top-k metrics.
        device, dtype, verbose: As timm's tasks.
    """

    def __init__(
            self,
            model: nn.Module,
            criterion: nn.Module,
            ml_config: Dict[str, Any],
            schema: Optional[LabelSchema] = None,
            threshold: float = 0.5,
            topk: int = 3,
            device: Optional[torch.device] = None,
            dtype: Optional[torch.dtype] = None,
            verbose: bool = True,
    ):
        super().__init__(model, criterion=criterion, threshold=threshold, device=device, dtype=dtype, verbose=verbose)
        self.setup_multilabel(ml_config, schema, threshold, topk)
