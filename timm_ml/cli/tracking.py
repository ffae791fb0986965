""" Experiment tracking beside summary.csv: TensorBoard (--log-tensorboard) and the end-of-run per-class AP for wandb
(timm's --log-wandb logs the summary rows itself through update_summary)."""
import logging
import os
import sys
from typing import Dict, Optional

_logger = logging.getLogger(__name__)


class Trackers:
    """ Logs what summary.csv holds, per epoch, to TensorBoard; and per-class AP (plus positives) at the end of the
    run to TensorBoard and wandb.

    Args:
        output_dir: The experiment folder (TensorBoard events go to <output_dir>/tensorboard).
        tensorboard: Write TensorBoard events. wandb_run: The active wandb run, or None.
    """

    def __init__(self, output_dir: str, tensorboard: bool = False, wandb_run=None):
        self.writer = None
        self._wandb_run = wandb_run
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise RuntimeError('--log-tensorboard needs the tensorboard package: pip install tensorboard') from e
            self.writer = SummaryWriter(os.path.join(output_dir, 'tensorboard'))

    def log_epoch(self, epoch: int, train_metrics: Dict[str, float], eval_metrics: Optional[Dict[str, float]],
                  lr: float):
        if self.writer is None:
            return
        for prefix, metrics in (('train', train_metrics), ('eval', eval_metrics or {})):
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self.writer.add_scalar(f'{prefix}/{k}', v, epoch)
        self.writer.add_scalar('lr', lr, epoch)
        self.writer.flush()

    @property
    def wandb_run(self):
        """The given wandb run, else the one timm's train.py started (wandb.run), if any."""
        if self._wandb_run is not None:
            return self._wandb_run
        wandb = sys.modules.get('wandb')
        return getattr(wandb, 'run', None) if wandb is not None else None

    def log_per_class(self, result, epoch: int):
        """Per-class AP of the last evaluation (MultiLabelResult.per_class rows)."""
        if result is None:
            return
        rows = [r for r in result.per_class if r['ap'] == r['ap']]  # classes with a known positive
        if self.writer is not None:
            for r in rows:
                self.writer.add_scalar(f'per_class_ap/{r["name"]}', r['ap'], epoch)
            self.writer.flush()
        if self.wandb_run is not None:
            import wandb
            table = wandb.Table(columns=['class', 'ap', 'positives', 'f1'],
                                data=[[r['name'], r['ap'], r['positives'], r['f1']] for r in rows])
            self.wandb_run.log({'per_class_ap': table})
            for r in rows:
                self.wandb_run.summary[f'ap/{r["name"]}'] = r['ap']

    def close(self):
        if self.writer is not None:
            self.writer.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()
