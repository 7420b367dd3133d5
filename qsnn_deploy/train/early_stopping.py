"""The kept epoch of a run with a validation split: the weights of the best validation accuracy (ties: the later
epoch), and early stopping (``--patience``) after ``patience`` epochs without a better one. Its fields travel in
the resume state, so a resumed run keeps and stops where the uninterrupted one would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .device import cpu_state


@dataclass
class EarlyStopping:
    """The best validation accuracy so far, its epoch and weights, and the epochs since a better one.
    ``patience`` None: never stop early."""

    patience: int | None
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int | None = None
    best_val: float | None = None
    bad_epochs: int = 0
    stopped_early: bool = False

    def update(self, epoch: int, val_accuracy: float, model: torch.nn.Module) -> None:
        """After an epoch: an accuracy at least as good keeps ``model``'s weights (a tie: the later epoch); ``patience``
        epochs in a row without a better one stop."""
        better = self.best_val is None or val_accuracy > self.best_val
        if better or val_accuracy == self.best_val:
            self.best_val, self.best_epoch, self.best_state = val_accuracy, epoch, cpu_state(model)
        if better:
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            self.stopped_early = self.patience is not None and self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        """The fields the resume state keeps (all but ``patience``, which is the config's)."""
        return {
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "best_val": self.best_val,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back the fields :meth:`state` saved (from a resume state)."""
        for key in self.state():
            setattr(self, key, state[key])
