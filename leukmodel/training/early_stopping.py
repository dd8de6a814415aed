"""Early stopping on validation AUC, with ties that a small validation set cannot resolve left to the loss."""

from __future__ import annotations

import math


class EarlyStopping:
    """Track the best epoch by validation macro AUC and say when to stop.

    An epoch is the new best when its AUC exceeds the best by more than ``auc_tolerance``, or when it is within
    ``auc_tolerance`` of the best and lowers the validation loss by more than ``loss_min_delta``. On a validation
    set of a dozen samples the AUC moves by a few hundredths from one swapped pair and saturates early (at 1, or at
    the cap of a single-modality baseline), while the loss still tells a trained model from an untrained one; once
    the validation samples are all classified with confidence, the loss shrinks by ever smaller amounts, which
    ``loss_min_delta`` ignores. Training stops after ``patience`` epochs without a new best. A NaN AUC (a
    validation set with one class) counts as a tie.
    """

    def __init__(self, patience: int, auc_tolerance: float = 0.0, loss_min_delta: float = 0.0) -> None:
        self.patience = patience
        self.auc_tolerance = auc_tolerance
        self.loss_min_delta = loss_min_delta
        self.best_auc = -math.inf
        self.best_loss = math.inf
        self.best_epoch = -1
        self.waited = 0

    def step(self, epoch: int, auc: float, loss: float) -> bool:
        """Record an epoch; return whether it is the new best."""
        auc = -1.0 if math.isnan(auc) else auc
        better = auc > self.best_auc + self.auc_tolerance
        tied = auc >= self.best_auc - self.auc_tolerance and loss < self.best_loss - self.loss_min_delta
        if better or tied:
            self.best_auc, self.best_loss, self.best_epoch, self.waited = max(self.best_auc, auc), loss, epoch, 0
            return True
        self.waited += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.waited >= self.patience
