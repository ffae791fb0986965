""" Early stopping on the evaluation metric."""
from typing import Any, Dict, Optional


class EarlyStopping:
    """ step(metric) returns True when the metric has not improved by more than min_delta for `patience` epochs.

    Args:
        patience: Epochs without improvement before stopping.
        min_delta: Smallest change that counts as an improvement.
        decreasing: Lower is better (e.g. loss).
    """

    def __init__(self, patience: int, min_delta: float = 0., decreasing: bool = False):
        self.patience = patience
        self.min_delta = min_delta
        self.decreasing = decreasing
        self.best = None
        self.best_epoch = None
        self.epoch = -1
        self.bad_epochs = 0

    def step(self, metric: float, epoch: Optional[int] = None) -> bool:
        self.epoch = self.epoch + 1 if epoch is None else epoch
        improved = self.best is None or (
            metric < self.best - self.min_delta if self.decreasing else metric > self.best + self.min_delta)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = metric, self.epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def state_dict(self) -> Dict[str, Any]:
        """What a checkpoint keeps, so that a resumed run stops where the uninterrupted one would."""
        return dict(best=self.best, best_epoch=self.best_epoch, epoch=self.epoch, bad_epochs=self.bad_epochs)

    def load_state_dict(self, state: Optional[Dict[str, Any]]):
        if state:
            self.best, self.best_epoch = state.get('best'), state.get('best_epoch')
            self.epoch, self.bad_epochs = int(state.get('epoch', -1)), int(state.get('bad_epochs', 0))
