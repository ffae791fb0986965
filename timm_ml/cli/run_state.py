""" What a run needs to resume exactly, owned by its run folder: the reading layout a recovery checkpoint assumes,
what the summary's columns mean, the early-stopping counters, the position inside an interrupted epoch and the row of
the epoch being checkpointed. It travels in every checkpoint through one hook, the saver's own state
(`checkpoint['saver']['run']`), so the task holds the train step only."""
import os
from typing import Any, Dict, Optional

LAYOUT_FLAGS = dict(batch_size='-b', grad_accum_steps='--grad-accum-steps', seed='--seed', world_size='world size',
                    train_samples='training samples', sampler='--sampler', sampler_power='--sampler-power',
                    sampler_cap='--sampler-cap')
MEANING_FLAGS = dict(threshold='--threshold', val_split='--val-split (the evaluated labels)',
                     eval_metric='--eval-metric', loss='--loss (train_loss / eval_loss)',
                     loss_settings='the loss options (train_loss / eval_loss)',
                     distill='the teacher and its --kd-* / --fill-unknown options (train_loss)')
# where checkpoints written before the run state moved to the saver kept it (the task state)
_LEGACY_KEYS = dict(layout='run_layout', meaning='summary_meaning', early_stop='early_stop',
                    summary_row='summary_row')


def evaluated_split_name(labels) -> Optional[str]:
    """The evaluated split as a resume compares it: its name and label file's name (a moved data root is the same
    split); streamed splits by name alone (re-sharding or moving the shards changes no label)."""
    if labels is None:
        return None
    if getattr(labels, 'streamed', False):
        return labels.split
    return f'{labels.split} ({os.path.basename(os.path.normpath(labels.source))})'


def plain_metrics(metrics) -> Dict[str, Any]:
    """Metrics as plain Python numbers (a checkpoint loads with weights_only: no numpy scalars); integers stay
    integers, so a summary row restored from a checkpoint reads as the one written directly."""
    out = {}
    for k, v in metrics.items():
        if hasattr(v, 'item'):
            v = v.item()
        out[str(k)] = v if isinstance(v, (bool, int)) else float(v) if isinstance(v, float) else v
    return out


def _changed(flag, a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return f'{flag}: ' + ', '.join(f'{k} {a.get(k, "default")} -> {b.get(k, "default")}' for k in keys)
    return f'{flag} {a} -> {b}'


class RunState:
    """ The run state of one training process.

    Args:
        layout: What decides which samples an update holds (batch size, accumulation, seed, world size, sampler):
            a recovery checkpoint resumed under another layout would repeat or skip samples.
        meaning: What the summary's evaluation columns mean (threshold, evaluated split, metric, loss).
    """

    def __init__(self, layout: Dict[str, Any], meaning: Dict[str, Any]):
        self.layout = dict(layout)
        self.meaning = dict(meaning)
        self.early_stop: Optional[Dict[str, Any]] = None
        self.recovery: Optional[Dict[str, Any]] = None  # set while a recovery checkpoint is written
        self.summary_row = None  # (epoch, train, eval, lr) while the epoch's checkpoint is written
        self.resumed: Dict[str, Any] = {}

    def state_dict(self) -> Dict[str, Any]:
        state = dict(layout=self.layout, meaning=self.meaning)
        if self.early_stop is not None:
            state['early_stop'] = dict(self.early_stop)
        if self.recovery is not None:
            state['recovery'] = dict(self.recovery)
        if self.summary_row is not None:
            epoch, train, evaluation, lr = self.summary_row
            state['summary_row'] = (int(epoch), plain_metrics(train), plain_metrics(evaluation), float(lr))
        return state

    @staticmethod
    def read(checkpoint: Dict[str, Any]) -> Dict[str, Any]:
        """The run state a checkpoint holds (older checkpoints kept it in the task state)."""
        saver = checkpoint.get('saver') if isinstance(checkpoint, dict) else None
        if isinstance(saver, dict) and isinstance(saver.get('run'), dict):
            return saver['run']
        task = checkpoint.get('task_state') if isinstance(checkpoint, dict) else None
        if not isinstance(task, dict):
            return {}
        state = {k: task[old] for k, old in _LEGACY_KEYS.items() if task.get(old) is not None}
        if task.get('recovery_updates'):
            state['recovery'] = dict(updates=task['recovery_updates'], stream=task.get('recovery_stream'),
                                     meters=task.get('recovery_meters'))
        return state

    def load(self, checkpoint: Dict[str, Any]):
        self.resumed = self.read(checkpoint)
        if self.resumed.get('early_stop') is not None:
            self.early_stop = dict(self.resumed['early_stop'])

    @property
    def resumed_recovery(self) -> Dict[str, Any]:
        return self.resumed.get('recovery') or {}

    @property
    def resumed_updates(self) -> int:
        """Updates of the resumed epoch already done (a recovery checkpoint), else 0."""
        return int(self.resumed_recovery.get('updates') or 0)

    def check_layout(self):
        """A recovery checkpoint holds the first N updates of its epoch; with another batch size, accumulation, seed
        or world size those N updates would be other samples, and the rest of the epoch would repeat or skip some."""
        saved = self.resumed.get('layout')
        if not self.resumed_updates or not saved:
            return
        changed = {k: (saved[k], v) for k, v in self.layout.items() if k in saved and saved[k] != v}
        if changed:
            said = ', '.join(f'{LAYOUT_FLAGS.get(k, k)} {a} -> {b}' for k, (a, b) in changed.items())
            raise ValueError(
                f'The recovery checkpoint stopped after {self.resumed_updates} updates of its epoch, made with other '
                f'settings than this run ({said}): the rest of the epoch would not be the samples it has not seen. '
                'Resume with the original settings, or resume from the last epoch checkpoint (last.pth.tar).')

    def check_meaning(self, summary: str):
        """Rows a resumed run appends to its folder's summary.csv must mean what the earlier rows mean: a changed
        threshold, evaluated split or best-checkpoint metric would write other numbers under the same column names (and
        rank model_best across them)."""
        saved = self.resumed.get('meaning')
        if not saved:
            return
        changed = {k: (saved[k], v) for k, v in self.meaning.items() if k in saved and saved[k] != v}
        if changed:
            said = ', '.join(_changed(MEANING_FLAGS.get(k, k), a, b) for k, (a, b) in changed.items())
            raise ValueError(f'{summary}: its rows were evaluated with other settings than this run ({said}); new rows '
                             'would mean something else under the same columns. Resume with the original settings, or '
                             'continue in a new folder (--experiment <new name>).')
