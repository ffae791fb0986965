""" Early stopping on the evaluation metric."""


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

    def step(self, metric: float) -> bool:
        self.epoch += 1
        improved = self.best is None or (
            metric < self.best - self.min_delta if self.decreasing else metric > self.best + self.min_delta)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = metric, self.epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
